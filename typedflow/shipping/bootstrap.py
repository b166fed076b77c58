"""The bootstrap a stock Python container runs before the typedflow runtime.

A container without a built image starts from ``python:X.Y-slim``. Its command is
``python -c SOURCE ROOT WHEEL_KEY WHEEL_SHA256 [PACKAGE ...] -- RUNTIME ARGS``: it installs the
environment's packages that are not already satisfied, fetches the typedflow wheel from the store
(``s3://`` through boto3, installed first; a pipeline root through its file system, ``gs://`` as
Vertex's ``/gcs/`` mount), checks its sha256, installs it unless that typedflow version is already
there, and execs ``python RUNTIME ARGS``. The runtime fetches the code bundle itself.

``SOURCE`` uses the standard library only, and never the words a pipeline runner rewrites (the
interpreter's name, ``{{``). Every argument is a separate list element: nothing goes through a shell.
"""

from __future__ import annotations

SOURCE = """\
import hashlib,importlib.metadata as M,os,subprocess,sys,tempfile
a=sys.argv[1:];i=a.index("--");root,key,sha,pk,run=a[0],a[1],a[2],a[3:i],a[i+1:]
def ok(p):
 try:
  from pip._vendor.packaging.requirements import Requirement as R
  r=R(p);return r.specifier.contains(M.version(r.name),prereleases=True)
 except Exception:return False
def pip(*x):
 print("typedflow bootstrap: pip install",*x,file=sys.stderr,flush=True)
 subprocess.check_call([sys.executable,"-m","pip","install","-q","--disable-pip-version-check","--no-input",*x])
s3=root.startswith("s3://")
need=[p for p in pk+(["boto3"] if s3 else []) if not ok(p)]
if need:pip(*need)
name=key.rsplit("/",1)[-1]
try:have=M.version("typedflow")
except Exception:have=None
if have!=name.split("-")[1]:
 if s3:
  import boto3
  b,_,pre=root[5:].partition("/");k=(pre.strip("/")+"/"+key).lstrip("/")
  d=boto3.client("s3").get_object(Bucket=b,Key=k)["Body"].read()
 else:
  base="/gcs/"+root[5:] if root.startswith("gs://") else root
  with open(os.path.join(base,key),"rb") as f:d=f.read()
 if hashlib.sha256(d).hexdigest()!=sha:sys.exit("typedflow bootstrap: "+key+" does not match its sha256")
 w=os.path.join(tempfile.mkdtemp(),name)
 with open(w,"wb") as f:f.write(d)
 pip(w)
os.execv(sys.executable,[sys.executable,*run])
"""


def command(
    interpreter: str, root: str, wheel_key: str, wheel_sha256: str, packages: tuple[str, ...], runtime: list[str]
) -> list[str]:
    """The container command: bootstrap, then ``interpreter -m typedflow.runtime ...`` (``runtime``
    starts with ``-m``)."""
    return [interpreter, "-c", SOURCE, root, wheel_key, wheel_sha256, *packages, "--", *runtime]


__all__ = ["SOURCE", "command"]

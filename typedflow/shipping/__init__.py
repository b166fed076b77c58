"""Shipping a workflow's code and environment to where its tasks run.

- :mod:`.select` and :mod:`.bundle`: the code bundle, content-addressed (``typedflow bundle``);
- :mod:`.unpack`: a bundle fetched by a worker or container, verified and extracted into a cache;
- :mod:`.codestore`: where bundles live (``<store>/code/<digest>.zip``) and how they are fetched;
- :mod:`.selfwheel`: a wheel of the running typedflow, which a stock Python container installs;
- :mod:`.plan`: what each task runs in (an image, or a stock image and a bootstrap command);
- :mod:`.bootstrap`: the bootstrap a stock Python container runs first;
- :mod:`.image`: build contexts, engines and registries (``typedflow build``);
- :mod:`.pool`: a worker's per-bundle task processes;
- :mod:`.envcheck`: whether this process's environment has what a workflow's environments need.
"""

// Validate ASL definitions with the npm package asl-validator (4.x).
// usage: node validate_asl.js PATH_TO_asl-validator_PACKAGE FILE...   -> one JSON object of results
//        node validate_asl.js PATH_TO_asl-validator_PACKAGE            -> serve: a file path per stdin
//                                                                        line, a JSON result per line
// (loading the package takes ~1.5 s, so the tests keep one process for the whole session)
"use strict";
const fs = require("fs");
const readline = require("readline");
const validator = require(process.argv[2]);

function check(file) {
  try {
    const { isValid, errors } = validator(JSON.parse(fs.readFileSync(file, "utf8")));
    return { isValid, errors: (errors || []).map((e) => (typeof e === "string" ? e : e.message || JSON.stringify(e))) };
  } catch (err) {
    return { isValid: false, errors: [String(err)] };
  }
}

const files = process.argv.slice(3);
if (files.length) {
  const results = {};
  for (const f of files) results[f] = check(f);
  process.stdout.write(JSON.stringify(results));
} else {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (line.trim()) process.stdout.write(JSON.stringify(check(line.trim())) + "\n");
  });
}

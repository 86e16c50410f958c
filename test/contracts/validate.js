#!/usr/bin/env node
/*
 * Validate data contracts against the official ODCS v3.1.0 JSON schema
 * (test/schemas/odcs/odcs-json-schema-v3.1.0.json, JSON Schema 2019-09)
 * with ajv and ajv-formats from test/node_modules (scripts/install-deps.sh).
 *
 *   node test/contracts/validate.js FILE.json...            every file valid
 *   node test/contracts/validate.js --invalid FILE.json...  every file invalid
 *
 * Prints one line per file ("valid FILE" or "invalid FILE: errors") and
 * exits 0 when every file is as expected, 1 otherwise, 2 on usage errors.
 * Files are JSON; YAML contracts are validated in the form the extension
 * stores them (test/t/013_contracts_odcs.pl exports them from the catalog).
 */
'use strict';

const fs = require('fs');
const path = require('path');

const modules = path.join(__dirname, '..', 'node_modules');
const Ajv2019 = require(path.join(modules, 'ajv', 'dist', '2019')).default;
const formats = require(path.join(modules, 'ajv-formats'));
const schemaFile = path.join(__dirname, '..', 'schemas', 'odcs',
                             'odcs-json-schema-v3.1.0.json');

const args = process.argv.slice(2);
const expectInvalid = args[0] === '--invalid';
const files = expectInvalid ? args.slice(1) : args;
if (files.length === 0) {
    console.error('usage: validate.js [--invalid] FILE.json...');
    process.exit(2);
}

const ajv = new Ajv2019({ allErrors: true, strict: false });
(formats.default || formats)(ajv);
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, 'utf8')));

let ok = true;
for (const file of files) {
    let doc;
    try {
        doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
        console.log(`invalid ${file}: not JSON: ${e.message}`);
        ok = ok && expectInvalid;
        continue;
    }
    if (validate(doc)) {
        console.log(`valid ${file}`);
        ok = ok && !expectInvalid;
    } else {
        const errors = validate.errors
            .map((e) => `${e.instancePath || '/'} ${e.message}`)
            .join('; ');
        console.log(`invalid ${file}: ${errors}`);
        ok = ok && expectInvalid;
    }
}
process.exit(ok ? 0 : 1);

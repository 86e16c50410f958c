#!/usr/bin/env node
/*
 * Validate OpenLineage RunEvents against the official OpenLineage JSON
 * Schemas (test/schemas/openlineage: OpenLineage.json and facets/*.json,
 * JSON Schema draft 2020-12) with ajv and ajv-formats from
 * test/node_modules (scripts/install-deps.sh).
 *
 *   node test/lineage/validate.js [--pairs] FILE...
 *
 * Each FILE holds events, one JSON document per line (what psql prints for
 * SELECT payload FROM lakehouse.event_outbox, or what
 * test/lineage/receiver.py stores).  Every event is validated against
 * RunEvent, and every facet against the schema of the facet file that
 * defines its key; a facet key no schema defines is an error, and so is a
 * facet in the wrong place (run facets must be RunFacets, job facets
 * JobFacets, inputFacets InputDatasetFacets, outputFacets
 * OutputDatasetFacets, dataset "facets" DatasetFacets).  Formats are
 * checked (ajv-formats, full mode): a dataSource uri must be a URI.
 * With --pairs, every runId must have exactly one START followed by
 * exactly one COMPLETE or FAIL.
 *
 * Prints the failures and a summary line; exits 0 when all is well, 1
 * otherwise, 2 on usage errors.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const modules = path.join(__dirname, '..', 'node_modules');
const Ajv2020 = require(path.join(modules, 'ajv', 'dist', '2020')).default;
const formats = require(path.join(modules, 'ajv-formats'));
const schemaDir = path.join(__dirname, '..', 'schemas', 'openlineage');

let args = process.argv.slice(2);
const pairs = args[0] === '--pairs';
if (pairs) args = args.slice(1);
if (args.length === 0) {
    console.error('usage: validate.js [--pairs] FILE...');
    process.exit(2);
}

const ajv = new Ajv2020({ allErrors: true, strict: false });
(formats.default || formats)(ajv);
const core = JSON.parse(fs.readFileSync(path.join(schemaDir, 'OpenLineage.json'), 'utf8'));
ajv.addSchema(core);
const validateEvent = ajv.getSchema(core.$id + '#/$defs/RunEvent');

/* facet key -> { validate, kind } where kind is the base facet it extends */
const facets = {};
for (const f of fs.readdirSync(path.join(schemaDir, 'facets'))) {
    if (!f.endsWith('.json')) continue;
    const s = JSON.parse(fs.readFileSync(path.join(schemaDir, 'facets', f), 'utf8'));
    ajv.addSchema(s);
    for (const key of Object.keys(s.properties || {})) {
        const ref = s.properties[key].$ref;            /* #/$defs/XFacet */
        if (typeof ref !== 'string' || !ref.startsWith('#/$defs/')) continue;
        const def = s.$defs[ref.replace('#/$defs/', '')];
        const base = JSON.stringify(def).match(/OpenLineage\.json#\/\$defs\/(\w+Facet)/);
        facets[key] = { id: s.$id, kind: base ? base[1] : 'BaseFacet' };
    }
}

const problems = [];
let count = 0;

function checkFacets(where, obj, allowed) {
    if (obj === undefined) return;
    for (const [key, value] of Object.entries(obj)) {
        const f = facets[key];
        if (!f) {
            problems.push(`${where}: facet "${key}" is defined by no schema`);
            continue;
        }
        if (!allowed.includes(f.kind)) {
            problems.push(`${where}: facet "${key}" is a ${f.kind}, not allowed here`);
        }
        const v = ajv.getSchema(f.id);
        if (!v({ [key]: value })) {
            problems.push(`${where}.${key}: ` +
                v.errors.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; '));
        }
    }
}

const runs = new Map();
for (const file of args) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
        if (line.trim() === '') return;
        const where = `${file}:${i + 1}`;
        let ev;
        try {
            ev = JSON.parse(line);
        } catch (e) {
            problems.push(`${where}: not JSON: ${e.message}`);
            return;
        }
        count++;
        if (!validateEvent(ev)) {
            problems.push(`${where}: ` +
                validateEvent.errors.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; '));
        }
        checkFacets(`${where} run`, ev.run && ev.run.facets, ['RunFacet']);
        checkFacets(`${where} job`, ev.job && ev.job.facets, ['JobFacet']);
        for (const [n, d] of (ev.inputs || []).entries()) {
            checkFacets(`${where} inputs[${n}]`, d.facets, ['DatasetFacet']);
            checkFacets(`${where} inputs[${n}].inputFacets`, d.inputFacets, ['InputDatasetFacet']);
        }
        for (const [n, d] of (ev.outputs || []).entries()) {
            checkFacets(`${where} outputs[${n}]`, d.facets, ['DatasetFacet']);
            checkFacets(`${where} outputs[${n}].outputFacets`, d.outputFacets, ['OutputDatasetFacet']);
        }
        const id = ev.run && ev.run.runId;
        if (!runs.has(id)) runs.set(id, []);
        runs.get(id).push(`${ev.eventType}`);
    });
}
if (pairs) {
    for (const [id, types] of runs) {
        if (types.length !== 2 || types[0] !== 'START' ||
            !['COMPLETE', 'FAIL'].includes(types[1])) {
            problems.push(`run ${id}: events ${types.join(',')}, expected START then COMPLETE or FAIL`);
        }
    }
}
for (const p of problems) console.log(p);
console.log(`${count} events, ${runs.size} runs, ${problems.length} problems`);
process.exit(problems.length === 0 && count > 0 ? 0 : 1);

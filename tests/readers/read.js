// Prints, as JSON, what Node's dotenv readers get from the env file in the directory named on
// the command line: dotenv's parse (17 and 18), dotenv-expand over it as Vite and most apps call
// it (the values not already in the environment), and Next.js's loader (@next/env).
const fs = require('fs')
const path = require('path')
const dir = process.argv[2]
const file = path.join(dir, process.argv[3] || '.env.local')
const text = fs.readFileSync(file, 'utf8')
const out = {}
out['dotenv'] = require('dotenv').parse(text)
out['dotenv@18'] = require('dotenv18').parse(text)
const { expand } = require('dotenv-expand')
out['dotenv-expand'] = expand({ parsed: require('dotenv').parse(text), processEnv: {} }).parsed
// @next/env reads .env.development.local, .env.local, .env.development and .env in dir.
const { loadEnvConfig } = require('@next/env')
const silent = { info () {}, error (...args) { console.error(...args) } }
const { combinedEnv } = loadEnvConfig(dir, true, silent, true)
out['Next.js'] = Object.fromEntries(Object.keys(out['dotenv']).map((k) => [k, combinedEnv[k]]))
process.stdout.write(JSON.stringify(out))

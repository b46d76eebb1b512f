// Builds plotly-dctwin.min.js from entry.js with the esbuild settings of plotly.js's own
// dist bundles (its esbuild-config.js), and the licence header its dist files carry.
// Usage (in this folder): npm install && node build.js
'use strict';
const fs = require('fs');
const { build } = require('esbuild');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');
// the header of plotly.js's own dist file, naming this bundle's traces
const distHeader = fs.readFileSync(require.resolve('plotly.js/dist/plotly.min.js'), 'utf8');
const header = distHeader.slice(0, distHeader.indexOf('*/') + 2).replace(
    'plotly.js v',
    'plotly.js (dctwin partial bundle: scatter, scattergl, heatmap, sankey, scattergeo - minified) v'
);

build({
    entryPoints: ['./entry.js'],
    outfile: './plotly-dctwin.min.js',
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    minify: true,
    sourcemap: false,
    banner: { js: header },
    footer: { js: 'window.Plotly = Plotly;' },
    plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
    alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
    define: { global: 'window', 'define.amd': 'false' },
    target: 'es2016',
    logLevel: 'warning',
}).catch(() => process.exit(1));

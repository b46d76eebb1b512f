'use strict';
// plotly.js with only the trace types dctwin's web UI draws (see README.md):
// scatter (in plotly.js's core), scattergl, heatmap, sankey and scattergeo.
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/heatmap'),
    require('plotly.js/lib/scattergl'),
    require('plotly.js/lib/sankey'),
    require('plotly.js/lib/scattergeo'),
]);

module.exports = Plotly;

"""What the browser downloads besides the pages: the partial plotly.js bundle
(:mod:`ui.bundle.plotlyjs`, vendored in ``ui/bundle/vendor``) and Dash's component scripts sent
gzip-compressed (:mod:`ui.bundle.compress`)."""

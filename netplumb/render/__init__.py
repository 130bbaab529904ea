"""Models → plain manifest dicts (pure; no engine, no cluster; imports only models): one
module per add-on, all written with the builders of :mod:`netplumb.render.manifests`."""

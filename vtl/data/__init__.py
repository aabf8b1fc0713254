"""BLINK-format data: `sample` (BlinkSample), `loaders` (load_source), `validate` (DataError), `check` (check_source),
`split` (split_samples), `synth` (write_suite) and `cli` (`vtl data synth|check`).

Kept import-free so `import vtl.data.sample` stays cheap; import the submodule you need.
"""

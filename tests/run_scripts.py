"""Run generated scripts in this one process, each as __main__ with --json: one JSON line per script.

Importing Pyomo once for a batch keeps the equivalence tests fast; each script still runs from
its own file, with fresh globals, exactly as ``python model.py --json`` would.
"""

import contextlib
import io
import json
import runpy
import sys

for path in sys.argv[1:]:
    captured = io.StringIO()
    sys.argv = [path, "--json"]
    with contextlib.redirect_stdout(captured), contextlib.suppress(SystemExit):
        runpy.run_path(path, run_name="__main__")
    sys.stdout.write(json.dumps({"path": path, "output": captured.getvalue()}) + "\n")

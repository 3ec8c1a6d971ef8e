"""Rewrites REPORT.md of a run whose `snp/snp.npz` stayed on another machine.

    python docs/results/cifar100-cct_4_3x2-andc/refresh_report.py RUN_DIR \
        [--publish docs/results/NAME.md]

`write_report` recomputes every claim from the run folder; claim 2 needs
the per-node fields V of `snp/snp.npz`. The K = 100 CIFAR-100 run was made
on a GPU machine that returns at most 64 MiB, so its 60 MB `snp.npz` stayed
there, after `write_report` had run there and written `report.json`. This
script passes claim 2 from that `report.json` (`claims.clusters_noise`) to
`write_report(..., clusters_noise=...)`, which recomputes everything else
here: claims 1, 3 and 4 from the JSON files and predictions (so the sweep
points, sizes and inference speed added after the GPU run are in), the
figures and the text, with the first report's bootstrap resamples.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
sys.path.insert(0, ROOT)

from keras_snp.reproduce import report as report_lib  # noqa: E402
from keras_snp.utils import read_json  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--publish", metavar="PATH.md")
    args = parser.parse_args(argv)
    if os.path.isfile(os.path.join(args.run_dir, "snp", "snp.npz")):
        sys.exit("snp/snp.npz is here: use write_report itself.")
    saved = read_json(os.path.join(args.run_dir, "report.json"))
    path = report_lib.write_report(
        args.run_dir,
        bootstrap=saved["resamples"],
        clusters_noise=saved["claims"]["clusters_noise"],
    )
    if args.publish:
        report_lib.publish(args.run_dir, args.publish)
    print(path)


if __name__ == "__main__":
    main()

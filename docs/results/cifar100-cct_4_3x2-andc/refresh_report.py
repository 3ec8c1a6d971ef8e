"""Rewrites REPORT.md of a run whose `snp/snp.npz` stayed on another machine.

    python docs/results/cifar100-cct_4_3x2-andc/refresh_report.py RUN_DIR \
        [--publish docs/results/NAME.md]

`write_report` recomputes every claim from the run folder; claim 2 needs
the per-node fields V of `snp/snp.npz`. The K = 100 CIFAR-100 run was made
on a GPU machine that returns at most 64 MiB, so its 60 MB `snp.npz` stayed
there, after `write_report` had run there and written `report.json`. This
script takes claim 2 (`claims.clusters_noise`) from that `report.json` and
recomputes everything else here: claims 1, 3 and 4 from the JSON files and
predictions (so the sweep points, sizes and inference speed added after
the GPU run are in), the figures, and the text. Same bootstrap settings
(1000 resamples, seed 0) as the first report.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
sys.path.insert(0, ROOT)

from keras_snp.reproduce import analysis as analysis_lib  # noqa: E402
from keras_snp.reproduce import report as report_lib  # noqa: E402
from keras_snp.utils import read_json  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--publish", metavar="PATH.md")
    args = parser.parse_args(argv)
    saved = read_json(os.path.join(args.run_dir, "report.json"))
    clusters = saved["claims"]["clusters_noise"]
    if os.path.isfile(os.path.join(args.run_dir, "snp", "snp.npz")):
        sys.exit("snp/snp.npz is here: use write_report itself.")
    load_summary = analysis_lib._load_snp

    def summary_only(run_dir):
        summary_path = os.path.join(run_dir, "snp", "summary.json")
        return read_json(summary_path), None

    analysis_lib._load_snp = summary_only
    analysis_lib.claim_clusters = lambda *_, **__: clusters
    try:
        path = report_lib.write_report(args.run_dir, bootstrap=1000, seed=0)
    finally:
        analysis_lib._load_snp = load_summary
    if args.publish:
        report_lib.publish(args.run_dir, args.publish)
    print(path)


if __name__ == "__main__":
    main()

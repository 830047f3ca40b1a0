#!/usr/bin/env bash
# Re-creates every saved schedule and the figures it replays to (after a deliberate
# change to the models, the scheduler or the simulator). Run from the repository root.
# The paper's eviction policy keeps the spills and reloads these files exercise.
set -euo pipefail
cargo build --release --quiet
stems=target/release/stems
for spec in "tiny_2t_lf_4kib tiny_fused 4KiB 2T-LF,ST-LBL" \
            "tiny_tb_lf_2kib tiny_fused 2KiB TB-LF,TB-LBL" \
            "sew18_tb_lbl_1mib sew_resnet18_cifar10dvs 1MiB TB-LBL" \
            "sew18_4t_lbl_128kib sew_resnet18_cifar10dvs 128KiB 4T-LBL"; do
  set -- $spec
  $stems evaluate --workload models/workloads/$2.toml --hardware models/hardware/meta_proto.toml \
    --gb $3 --schedule $4 --eviction paper --save-schedule traces/$1.schedule.json > /dev/null
  $stems simulate --replay traces/$1.schedule.json --format json \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); json.dump({k: r[k] for k in
        ["dram_bits","energy_pj","latency_cycles","busy_cycles","peak_global_sram_bits","ops","events"]},
        sys.stdout, indent=1)' > traces/$1.expected.json
done

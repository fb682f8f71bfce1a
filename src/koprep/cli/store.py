"""Commands over the artifact store as a whole: `koprep ls`, `koprep gc` and `koprep verify`
(`koprep.maintenance` does the work; this module prints it)."""

from __future__ import annotations

import argparse
import json

from koprep.cli.options import Commands, Parents, add_command, open_store

LS_EXAMPLES = "examples:\n  koprep ls\n  koprep ls --artifacts /data/koprep --json\n  koprep ls --artifacts s3://bucket/store --config koprep.toml   # [store] endpoint_url = ..."
GC_EXAMPLES = "examples:\n  koprep gc --dry-run\n  koprep gc --keep-runs 3\n  koprep gc --keep-runs 1 --grace 0 --json"
VERIFY_EXAMPLES = """examples:
  koprep verify                        # every artifact's files against its manifest, every run record
  koprep verify --artifacts /data/koprep-store --json"""


def register(commands: Commands, parents: Parents) -> None:
    shared = [parents.store, parents.store_config, parents.json]
    ls = add_command(
        commands, "ls", epilog=LS_EXAMPLES, parents=shared,
        help="stored artifacts with sizes, ages and the runs that use them",
        description="List every entry in the artifact store with its size, age and the runs that use it.",
    )
    ls.set_defaults(handler=ls_command)

    gc = add_command(
        commands, "gc", epilog=GC_EXAMPLES, parents=shared, help="remove artifacts that no recent run uses",
        description="Keep the newest N run records and everything they use (every entry they name: their stages, "
        "trained soynlp model and phrases; what those were computed from; the runs their config names; evaluate "
        "reports of their vectors); remove older run records and every other entry. Entries younger than --grace "
        "are kept: a run in progress may have written them without having recorded itself yet.",
    )
    gc.add_argument("--keep-runs", type=int, default=None, metavar="N",
                    help="how many of the newest runs to keep (default 10)")
    gc.add_argument("--grace", type=float, default=None, metavar="SECONDS",
                    help="keep unused entries younger than this (default 3600)")
    gc.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    gc.set_defaults(handler=gc_command)

    verify = add_command(
        commands, "verify", epilog=VERIFY_EXAMPLES, parents=shared,
        help="check every artifact against its manifest (SHA-256) and every entry each run record references; "
        "exit 3 if anything is corrupt or missing",
    )
    verify.set_defaults(handler=verify_command)


def ls_command(args: argparse.Namespace) -> int:
    from koprep.maintenance import listing
    from koprep.pipeline.graph import GRAPH

    store = open_store(args)
    result = listing(store)
    shared = "referred to by" if store.mirror is not None else "hard-linked into"  # a bucket has no hard links
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    shard_stages = GRAPH.shard_stages()
    print(f"{'stage':<10} {'fingerprint':<14} {'size':>9} {'age':>6}  runs")
    for entry in result["entries"]:
        if entry["stage"] in shard_stages:
            continue  # summarised below; --json lists each
        users = ", ".join(run[:8] for run in entry["runs"][:3]) + (f" +{len(entry['runs']) - 3}" if len(entry["runs"]) > 3 else "")
        state = "" if entry["complete"] else "  (incomplete: never used, removed by gc)"
        print(f"{entry['stage']:<10} {entry['fingerprint'][:12]:<14} {size(entry['bytes']):>9} "
              f"{age(entry['age_seconds']):>6}  {users or '-'}{state}")
    for stage in shard_stages:
        shards = [e for e in result["entries"] if e["stage"] == stage]
        if shards:
            unused = sum(1 for e in shards if not e["runs"])
            print(f"{stage}: {len(shards)} shard entries, {size(sum(e['bytes'] for e in shards))} ({shared} the "
                  f"{GRAPH.shard_stage_of(stage)} entries above){f', {unused} used by no run' if unused else ''}")
    print(f"{len(result['entries'])} entries, {size(result['total_bytes'])} on disk, {len(result['runs'])} runs in {result['root']}")
    return 0


def gc_command(args: argparse.Namespace) -> int:
    from koprep.maintenance import DEFAULT_GRACE_SECONDS, DEFAULT_KEEP_RUNS, collect_garbage, plan_gc

    store = open_store(args)
    keep = DEFAULT_KEEP_RUNS if args.keep_runs is None else args.keep_runs
    plan = plan_gc(store, keep, DEFAULT_GRACE_SECONDS if args.grace is None else args.grace)
    if not args.dry_run:
        collect_garbage(store, plan)
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, **plan.as_dict()}, ensure_ascii=False))
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for record in plan.removed_runs:
        print(f"{verb} run {record.run_id}")
    for entry in plan.removed_entries:
        print(f"{verb} {entry.stage}/{entry.fingerprint}  {size(entry.bytes)}")
    for entry in plan.young_entries:
        print(f"kept   {entry.stage}/{entry.fingerprint}  unused, but younger than the grace period")
    print(f"{verb} {len(plan.removed_runs)} run(s) and {len(plan.removed_entries)} entries ({size(plan.freed_bytes)}); "
          f"kept {len(plan.kept_runs)} run(s) and {len(plan.kept_entries)} entries they use")
    return 0


def verify_command(args: argparse.Namespace) -> int:
    from koprep.errors import EXIT_INTEGRITY
    from koprep.maintenance import verify
    from koprep.store import StoreError

    store = open_store(args)
    if store.mirror is not None:
        store.mirror.objects.check_readable()
    elif not store.root.is_dir():
        raise StoreError(f"there is no artifact store at {store.root}; pass its folder with --artifacts DIR")
    report = verify(store)
    problems = report["problems"]
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return EXIT_INTEGRITY if problems else 0
    print(f"checked {report['entries']} artifacts and {report['runs']} run records in {report['root']}")
    for problem in problems:
        print(f"  {problem['kind']:<10} {problem['path']}: {problem['detail']}")
    if report["leftovers"]:
        print(f"  {len(report['leftovers'])} temporary folder(s) of interrupted or running writes "
              "(never used; the next run removes those no run is writing)")
    if problems:
        print(f"{len(problems)} problem(s); corrupt artifacts are recomputed by the next `koprep run` with the same settings")
        return EXIT_INTEGRITY
    print("ok: every artifact matches its manifest")
    return 0


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def age(seconds: float) -> str:
    for unit, span, limit in (("s", 1, 60), ("min", 60, 3600), ("h", 3600, 86400)):
        if seconds < limit:
            return f"{seconds / span:.0f}{unit}"
    return f"{seconds / 86400:.0f}d"

"""Keep the stored blocking keys in step with the blocking rules in use.

The store indexes each record under the keys its blocking rules made when it
was written. When the rules change (a new release adds one, or a model trained
with other settings is configured), records written before would be invisible
to the new rules' lookups: candidates silently missed. So the fingerprint of
the rules that made the keys is kept in the index (``index_state``), and when
the index is opened with other rules every active record's keys are rebuilt,
in one transaction, with the same vectorised key maker as ``mpi load``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from matching.blocking import rules_fingerprint
from matching.prepare import prepare_frame
from matching.settings import BlockingRule
from mpi.service.keys import block_keys, stored_frame
from mpi.store import Store, UnitOfWork

__all__ = ["BLOCKING_STATE", "ensure_blocking_keys"]

BLOCKING_STATE = "blocking_rules"
"""The ``index_state`` entry holding the fingerprint of the rules that made the keys."""

_BATCH = 20_000


def ensure_blocking_keys(
    store: Store, rules: tuple[BlockingRule, ...], say: Callable[[str], None]
) -> int | None:
    """Rebuild every active record's keys if they were made by other rules.

    Args:
        store: the index.
        rules: the blocking rules in use (the model's).
        say: where a line goes when keys are rebuilt.

    Returns:
        ``None`` if the keys were made by these rules; else how many records were re-keyed
        (0 for an empty index, which just records the rules).
    """
    fingerprint = rules_fingerprint(rules)
    if store.read(lambda uow: uow.index_state.get(BLOCKING_STATE)) == fingerprint:
        return None

    def rebuild(uow: UnitOfWork) -> int:
        if uow.index_state.get(BLOCKING_STATE) == fingerprint:  # another process did it
            return 0
        uow.blocking.delete_all()
        # Building the lookup index once at the end is several times faster than
        # inserting every key into it (as a large ``mpi load`` does).
        uow.bulk.drop_load_indexes(["ix_blocking_key_key_hash"])
        done = 0
        for batch in uow.bulk.iter_active(batch_size=_BATCH):
            if not done:
                say("blocking rules differ from those that made the stored keys: rebuilding them")
            keys = block_keys(prepare_frame(stored_frame(batch)), rules)
            pks = np.array([s.pk for s in batch], dtype=np.int64)
            uow.bulk.insert_key_hashes(pks[keys.record], keys.key_hash)
            done += len(batch)
        uow.bulk.restore_indexes()
        uow.index_state.set(BLOCKING_STATE, fingerprint)
        return done

    done = store.run(rebuild)
    if done:
        say(f"rebuilt the blocking keys of {done:,} records")
    return done

"""What the switch relies on its journal for, on both journals: a restart resumes from it.

The switch's own restart cases (tests/test_service.py), run on an SQLite file and on the private
PostgreSQL (`journal_url`): the queues rebuilt, the channel serials carried on, a cable journalled
but not routed taken up, a receipt across the restart honoured, a duplicate across it filed.
"""

from __future__ import annotations

from router.bus.memory import MemoryBroker
from router.journal.store import Journal
from router.routing.table import parse_table
from tests.helpers import opened, receipt_for, receive
from tests.test_service import TABLE, cable, events, running


async def test_unacknowledged_deliveries_go_out_again_after_a_restart(journal_url: str) -> None:
    """The queues are rebuilt from the journal: what a post did not acknowledge is sent again."""
    broker = MemoryBroker()
    post, publisher = broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    journal = Journal(journal_url)
    async with running(broker.connect(), journal, parse_table(TABLE)):
        await publisher.publish("cables/in/x", cable(9, to="AMEMBASSY PARIS"))
        (before,) = await receive(post, 1)
    journal.close()
    journal = Journal(journal_url)
    async with running(broker.connect(), journal, parse_table(TABLE)):
        (after,) = await receive(post, 1)
    journal.close()
    assert opened(after)[1].message_id == opened(before)[1].message_id
    assert (opened(before)[0], opened(after)[0]) == ("HFR0001", "HFR0002"), "the channel's serials go on"


async def test_a_copy_acknowledged_across_a_restart_is_not_sent_again(journal_url: str) -> None:
    """An acknowledgement that arrives within the grace after a restart spares the post a second copy."""
    broker = MemoryBroker()
    post, publisher, log = broker.connect(), broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    await log.subscribe("router/log")
    journal = Journal(journal_url)
    async with running(broker.connect(), journal, parse_table(TABLE)):
        await publisher.publish("cables/in/x", cable(10, to="AMEMBASSY PARIS"))
        (copy,) = await receive(post, 1)
    journal.close()
    journal = Journal(journal_url)
    async with running(broker.connect(), journal, parse_table(TABLE), resend_after=0.5):
        await publisher.publish("cables/ack/RUEHFR", receipt_for(copy))
        (resending,) = await events(log, "resending", 1)
    assert journal.counts()["deliveries_acknowledged"] == 1
    journal.close()
    assert resending["deliveries"] == 0
    assert resending["acknowledged_meanwhile"] == 1
    assert post.queue.empty()


async def test_a_cable_journalled_but_not_routed_is_taken_up_after_a_restart(journal_url: str) -> None:
    """A router stopped between the journal and routing finishes the cable on its next start."""
    killed = Journal(journal_url)
    killed.receive("cables/in/x", cable(12, to="AMEMBASSY PARIS"))  # as if killed right after
    killed.close()
    broker = MemoryBroker()
    post = broker.connect()
    await post.subscribe("cables/out/RUEHFR")
    journal = Journal(journal_url)
    async with running(broker.connect(), journal, parse_table(TABLE)):
        (copy,) = await receive(post, 1)
    assert opened(copy)[1].message_id == "RUEHRO-0012-0011200"
    assert journal.counts()["cables_routed"] == 1
    journal.close()


async def test_a_cable_sent_again_after_a_restart_is_filed_as_a_duplicate(journal_url: str) -> None:
    """The routed message ids are the journal's: the same cable after a restart is not delivered twice."""
    broker = MemoryBroker()
    post, publisher, log = broker.connect(), broker.connect(), broker.connect()
    await post.subscribe("cables/out/RUEHC")
    await log.subscribe("router/log")
    journal = Journal(journal_url)
    async with running(broker.connect(), journal, parse_table(TABLE)):
        await publisher.publish("cables/in/x", cable(13))
        await receive(post, 1)
    journal.close()
    journal = Journal(journal_url)
    async with running(broker.connect(), journal, parse_table(TABLE)):
        await publisher.publish("cables/in/x", cable(13))
        (duplicate,) = await events(log, "duplicate", 1)
    counts = journal.counts()
    journal.close()
    assert duplicate["message_id"] == "RUEHRO-0013-0011200"
    assert (counts["cables_routed"], counts["cables_duplicate"]) == (1, 1)

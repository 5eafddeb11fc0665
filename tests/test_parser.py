"""The parser on the project's own samples and on hand-written edge cases."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from router import Cable, CableParseError, Classification, Precedence, parse_cable
from router.network.channel import BELL, heading, message_part
from router.network.trunk import RoutingLine, write_transmission

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def sample(name: str) -> Cable:
    return parse_cable((SAMPLES / name).read_bytes())


def test_precedence_orders_ecp_over_flash_over_immediate_over_priority_over_routine() -> None:
    """Precedence compares by handling order, not alphabetically."""
    assert Precedence.ECP > Precedence.FLASH > Precedence.IMMEDIATE
    assert Precedence.IMMEDIATE > Precedence.PRIORITY > Precedence.ROUTINE
    assert max(Precedence.ROUTINE, Precedence.FLASH, Precedence.PRIORITY) is Precedence.FLASH
    assert sorted([Precedence.PRIORITY, Precedence.ECP, Precedence.ROUTINE]) == [
        Precedence.ROUTINE,
        Precedence.PRIORITY,
        Precedence.ECP,
    ]


def test_precedence_letters_are_the_prosigns() -> None:
    """Each precedence maps to its ACP 127 prosign letter and back."""
    assert [p.letter for p in Precedence] == ["R", "P", "O", "Z", "Y"]
    assert all(Precedence.from_letter(p.letter) is p for p in Precedence)


def test_classification_orders_unclassified_to_top_secret() -> None:
    """Classification compares by level."""
    assert Classification.UNCLASSIFIED < Classification.CONFIDENTIAL < Classification.SECRET
    assert Classification.SECRET < Classification.TOP_SECRET


def test_ranked_enums_do_not_compare_across_kinds() -> None:
    """A precedence is not comparable with a classification."""
    with pytest.raises(TypeError):
        assert Precedence.FLASH < Classification.SECRET


def test_a_flash_as_it_goes_down_a_line_reads_with_its_bell() -> None:
    """ACP 127 §151b: FLASH is ZZ in FL2 "immediately preceded by the bell signal" (§137e(1)).

    The copy a post gets and a trunk's transmission ring it; read back, the bell is a line signal,
    not a word of the routing line: the cable is the one that was filed.
    """
    filed = sample("flash-collective.txt")
    raw = (SAMPLES / "flash-collective.txt").read_bytes()
    for heard in (
        heading("HFR0042", "RUEHFR", "ZZ") + message_part(raw),
        write_transmission("BTD0007", RoutingLine(Precedence.FLASH, ("RUEHFR", "RUEHC")), message_part(raw)),
    ):
        assert heard.count(BELL) == 1
        cable = parse_cable(heard)
        assert cable.relay_precedence is Precedence.FLASH
        assert cable.relay_ris in {("RUEHFR",), ("RUEHFR", "RUEHC")}
        assert (cable.message_id, cable.precedence, cable.dtg) == (
            filed.message_id,
            filed.precedence,
            filed.dtg,
        )


def test_acp127_sample_reads_every_format_line() -> None:
    """FL1 to FL9 of an ACP 127 cable land in their fields."""
    cable = sample("flash-collective.txt")
    assert cable.family == "acp127"
    assert cable.transmission_id == "VZCZCXRA0412"
    assert cable.relay_precedence is Precedence.FLASH
    assert cable.relay_ris == ("RUEHWEB",)
    assert cable.station_serial is not None
    assert cable.station_serial.originating_ri == "RUEHRO"
    assert cable.station_serial.ssn == 877
    assert cable.station_serial.section == 1
    assert cable.station_serial.filing_time == "3130915"
    assert cable.message_id == "RUEHRO-0877/01-3130915"
    assert cable.precedence is Precedence.FLASH
    assert cable.dtg == datetime(2009, 11, 9, 9, 15, tzinfo=UTC)
    assert cable.originator == "AMEMBASSY ROME"
    assert cable.security_warning is Classification.SECRET
    assert cable.classification is Classification.SECRET
    assert not cable.classification_conflict
    assert cable.caveats == ("NOFORN", "SIPDIS")
    assert cable.reference == "09ROME877"


def test_acp127_sample_reads_addressees_with_their_tails() -> None:
    """RI, name, office symbols, own precedence, MCN and ZEN are read per addressee."""
    cable = sample("flash-collective.txt")
    to = [(a.ri, a.name, a.precedence, a.written_precedence, a.mcn) for a in cable.to]
    assert to == [
        ("RUEHC", "SECSTATE WASHDC", Precedence.FLASH, Precedence.FLASH, "5512"),
        (
            "RUEHZL",
            "EUROPEAN POLITICAL COLLECTIVE",
            Precedence.IMMEDIATE,
            Precedence.IMMEDIATE,
            None,
        ),
    ]
    assert [(x.name, x.collective) for x in cable.xmt] == [
        ("AMEMBASSY VALLETTA", "EUROPEAN POLITICAL COLLECTIVE")
    ]
    info = {a.name: a for a in cable.info}
    assert info["AMCONSUL FLORENCE"].mcn == "0231"
    assert info["AMCONSUL MILAN"].precedence is Precedence.FLASH  # the DTG's single letter
    assert info["SECDEF WASHINGTON DC"].office == "USDP:ISA"
    assert info["AMCONSUL NAPLES"].zen
    assert info["AMCONSUL NAPLES"].ri == "RUEHNP"


def test_dual_precedence_gives_action_and_info_their_own_letters() -> None:
    """`O P`: TO addressees default to IMMEDIATE, INFO addressees to PRIORITY (§152)."""
    cable = sample("dual-precedence.txt")
    assert cable.family == "acp126"
    assert (cable.precedence, cable.info_precedence) == (Precedence.IMMEDIATE, Precedence.PRIORITY)
    assert [a.precedence for a in cable.to] == [Precedence.IMMEDIATE, Precedence.IMMEDIATE]
    assert cable.to[0].niact
    assert not cable.to[1].niact
    assert [a.precedence for a in cable.info] == [Precedence.PRIORITY] * 3
    assert cable.info[1].mcn == "0042"
    assert cable.message_id.startswith("X-")
    assert cable.reference == "88STATE81234"


def test_blank_line_between_relay_line_and_de_line_is_part_of_the_header() -> None:
    """The header does not end at the first blank line (00ATHENS1501)."""
    cable = sample("routine-unclassified.txt")
    assert cable.family == "acp127"
    assert cable.message_id == "RUEHOT-0311-0421200"
    assert [a.name for a in cable.info] == ["ALL CANADIAN POSTS COLLECTIVE", "AMCONSUL MONTREAL"]
    assert cable.classification is Classification.UNCLASSIFIED
    assert cable.caveats == ("SBU", "SIPDIS")


def test_partial_record_is_a_cable_without_addressees() -> None:
    """A partial record parses to a cable with no routing header and no addressees."""
    cable = sample("partial-record.txt")
    assert cable.family == "partial"
    assert cable.to == cable.info == ()
    assert cable.dtg == datetime(2004, 1, 20, 12, 47, tzinfo=UTC)
    assert cable.classification is Classification.CONFIDENTIAL
    assert cable.reference == "04MADRID123"


HEADER = "R 011200Z JAN 09\nFM AMEMBASSY PARIS\nTO {to}\n\nUNCLAS PARIS 000001\n"


@pytest.mark.parametrize(
    ("line", "name", "precedence", "niact", "mcn"),
    [
        ("SECSTATE WASHDC IMMEDIATE 4887", "SECSTATE WASHDC", Precedence.IMMEDIATE, False, "4887"),
        ("AMEMBASSY LONDONIMMEDIATE", "AMEMBASSY LONDON", Precedence.IMMEDIATE, False, None),
        (
            "SECSTATE WASHINGTON DC//PRIORITY7899",
            "SECSTATE WASHINGTON DC",
            Precedence.PRIORITY,
            False,
            "7899",
        ),
        ("AMEMBASSY BAKU PIORITY", "AMEMBASSY BAKU", Precedence.PRIORITY, False, None),
        ("AMEMBASSY BRASILIA PRIOITY", "AMEMBASSY BRASILIA", Precedence.PRIORITY, False, None),
        ("SECSTATE WASHDC IMMEDIAT", "SECSTATE WASHDC", Precedence.IMMEDIATE, False, None),
        ("SECSTATE WASHDC IMMEDAITE 7958", "SECSTATE WASHDC", Precedence.IMMEDIATE, False, "7958"),
        (
            "AMEMBASSY RIGA NIACT IMMEDIATE 0612-0615",
            "AMEMBASSY RIGA",
            Precedence.IMMEDIATE,
            True,
            "0612-0615",
        ),
        ("AMEMBASSY TUNIS 1439-", "AMEMBASSY TUNIS", Precedence.ROUTINE, False, "1439"),
        ("AMCONSUL ISTANBUL PRIORITY 012", "AMCONSUL ISTANBUL", Precedence.PRIORITY, False, "012"),
        ("COM SIXTHFLT IMMEDIATE IMMEDIATE", "COM SIXTHFLT", Precedence.IMMEDIATE, False, None),
        ("CTF 151", "CTF 151", Precedence.ROUTINE, False, None),
        ("AMEMBASSY PARIS 0000", "AMEMBASSY PARIS", Precedence.ROUTINE, False, "0000"),
    ],
)
def test_dirty_address_tails_are_read(
    line: str, name: str, precedence: Precedence, niact: bool, mcn: str | None
) -> None:
    """Typos, fusions, doubled words and cut ranges in address tails are read as meant."""
    (addressee,) = parse_cable(HEADER.format(to=line)).to
    assert (addressee.name, addressee.precedence, addressee.niact, addressee.mcn) == (
        name,
        precedence,
        niact,
        mcn,
    )


@pytest.mark.parametrize(
    ("line", "name", "precedence", "zen", "pouch"),
    [
        # The corpus and the pool: 03BEIJING16342, 00ATHENS-era posts without a network line.
        ("AMCONSUL ZEN/CHENGDU", "AMCONSUL CHENGDU", Precedence.ROUTINE, True, False),
        ("AMCONSUL BELFAST POUCH", "AMCONSUL BELFAST", Precedence.ROUTINE, False, True),
        ("AMCONSUL CHENGDU POUCH)", "AMCONSUL CHENGDU", Precedence.ROUTINE, False, True),
        ("AMCONSUL CHENGDU (POUCH)", "AMCONSUL CHENGDU", Precedence.ROUTINE, False, True),
        ("AMEMBASSY AMMAN POUCH PRIORITY", "AMEMBASSY AMMAN", Precedence.PRIORITY, False, True),
        ("AMEMBASSY AMMAN PRIORITY POUCH", "AMEMBASSY AMMAN", Precedence.PRIORITY, False, True),
        ("AMCONSUL ZENICA", "AMCONSUL ZENICA", Precedence.ROUTINE, False, False),
    ],
)
def test_zen_after_the_title_and_pouch_are_read(
    line: str, name: str, precedence: Precedence, zen: bool, pouch: bool
) -> None:
    """`ZEN/` before the place and a `POUCH` mark are markings, not part of the post's name."""
    (addressee,) = parse_cable(HEADER.format(to=line)).to
    assert (addressee.name, addressee.precedence, addressee.zen, addressee.pouch) == (
        name,
        precedence,
        zen,
        pouch,
    )


def test_an_addressee_may_outrank_the_dtg() -> None:
    """An addressee's own FLASH stands even under an O on the DTG line (85BEIRUT3494)."""
    cable = parse_cable(HEADER.format(to="AMEMBASSY ALGIERS FLASH").replace("R 01", "O 01"))
    assert cable.precedence is Precedence.IMMEDIATE
    assert cable.to[0].precedence is Precedence.FLASH


def test_print_format_page_breaks_inside_the_address_list_are_skipped() -> None:
    """`TO PAGE 02 ...`, `INFO PAGE 02 ...` and classification + PAGE lines are not addressees."""
    text = (
        "P 182318Z FEB 09\nFM SECSTATE WASHDC\nTO PAGE 02        STATE   015113  182333Z \n"
        "ALL DIPLOMATIC POSTS COLLECTIVE PRIORITY\nAMEMBASSY TRIPOLI PRIORITY\n"
        "                       UNCLASSIFIED    \n\nPAGE 03        STATE   015113  182333Z \n"
        "AMEMBASSY TUNIS\nINFO PAGE 04        STATE   015113  182333Z\nAMEMBASSY RABAT\n\n"
        "S E C R E T STATE 015113\n"
    )
    cable = parse_cable(text)
    assert [a.name for a in cable.to] == [
        "ALL DIPLOMATIC POSTS COLLECTIVE",
        "AMEMBASSY TRIPOLI",
        "AMEMBASSY TUNIS",
    ]
    assert [a.name for a in cable.info] == ["AMEMBASSY RABAT"]


def test_info_after_a_blank_line_continues_the_header() -> None:
    """A blank line, then INFO alone on its line, then names (95STATE19130)."""
    text = (
        "O P 250534Z JAN 95\nFM SECSTATE WASHDC\nTO AMEMBASSY DHAKA\n\n"
        "INFO    \nDOT WASHDC\n\nSECRET STATE 019130\n"
    )
    cable = parse_cable(text)
    assert [a.name for a in cable.info] == ["DOT WASHDC"]
    assert cable.info[0].precedence is Precedence.PRIORITY


def test_info_with_slashes_and_nested_xmt() -> None:
    """`INFO/RUEHSA/...` carries an RI; `INFO XMT FOOBAR` is an empty INFO and an exemption."""
    cable = parse_cable(HEADER.format(to="SECSTATE WASHDC\nINFO/RUEHSA/AMEMBASSY PRETORIA 1186"))
    assert (cable.info[0].ri, cable.info[0].name, cable.info[0].mcn) == (
        "RUEHSA",
        "AMEMBASSY PRETORIA",
        "1186",
    )
    cable = parse_cable(HEADER.format(to="ALL OECD CAPITALS\nINFO XMT FOOBAR"))
    assert cable.info == ()
    assert [(x.name, x.collective) for x in cable.xmt] == [("FOOBAR", "ALL OECD CAPITALS")]


def test_state_distribution_block_before_the_header_is_not_addressees() -> None:
    """`INFO  LOG-00 EEB-00 ...` above the DTG line is State's internal distribution."""
    text = (
        "ORIGIN DS-00\n\nINFO  LOG-00   MFA-00   EEB-00\n      SAS-00   FA-00      /002R\n\n"
        "P 031812Z NOV 08\nFM SECSTATE WASHDC\nTO SECURITY OFFICER COLLECTIVE PRIORITY\n\n"
        "S E C R E T STATE 116943\n"
    )
    cable = parse_cable(text)
    assert cable.family == "acp126"
    assert [a.name for a in cable.to] == ["SECURITY OFFICER COLLECTIVE"]
    assert cable.info == ()


def test_vzczc_after_junk_and_a_garbled_byte_order_mark() -> None:
    """Junk before FL1 and a mis-decoded BOM before the DTG do not hide the header."""
    cable = parse_cable(
        "S E C R E T   STATE   00119085\nVZCZCXRO1706\nPP RUEHAG\nDE RUEHC #9085/01 3221739\n"
        "ZNY SSSSS ZZH\nP 181729Z NOV 09\nFM SECSTATE WASHDC\n"
        "TO ALL DIPLOMATIC AND CONSULAR POSTS COLLECTIVE\n"
    )
    assert cable.family == "acp127"
    assert cable.classification is Classification.SECRET
    cable = parse_cable("\u00ef\u00bb\u00bfR 231726Z JUN 04\nFM SECSTATE WASHDC\nTO AMEMBASSY KABUL\n")
    assert cable.family == "acp126"
    assert cable.to[0].name == "AMEMBASSY KABUL"


def test_dtg_without_precedence_letter_defaults_addressees_to_routine() -> None:
    """A DTG with no letter (78KABUL3619) leaves the cable's precedence unknown."""
    cable = parse_cable("061601Z MAY 78\nFM AMEMBASSY KABUL\nTO SECSTATE WASHDC\n\nCONFIDENTIAL KABUL 3619\n")
    assert cable.precedence is None
    assert cable.to[0].precedence is Precedence.ROUTINE
    assert cable.reference == "78KABUL3619"


@pytest.mark.parametrize(
    ("dtg", "year"),
    [("66", 1966), ("99", 1999), ("00", 2000), ("10", 2010), ("49", 2049), ("50", 1950)],
)
def test_two_digit_years_pivot_at_fifty(dtg: str, year: int) -> None:
    """Two-digit DTG years 50-99 are 19xx, 00-49 are 20xx."""
    cable = parse_cable(f"R 011200Z JAN {dtg}\nFM AMEMBASSY PARIS\nTO SECSTATE WASHDC\n")
    assert cable.dtg is not None
    assert cable.dtg.year == year


@pytest.mark.parametrize(
    ("banner", "level", "caveats", "reference"),
    [
        ("S e c r e t berlin 001068", Classification.SECRET, (), "09BERLIN1068"),
        ("E C R E T SECTION 01 OF 03 BAGHDAD 000146", Classification.SECRET, (), "09BAGHDAD146"),
        ("SS E C R E T MOSCOW 000226", Classification.SECRET, (), "09MOSCOW226"),
        (
            "C ONFIDENTIAL SECTION 01 of 03 BAKU 000744",
            Classification.CONFIDENTIAL,
            (),
            "09BAKU744",
        ),
        (
            "S E C R E T N O F O R N MOGADISHU 01643",
            Classification.SECRET,
            ("NOFORN",),
            "09MOGADISHU1643",
        ),
        ("UNCLAS E F T O ABU DHABI 00042", Classification.UNCLASSIFIED, ("EFTO",), "09ABUDHABI42"),
        (
            "LIMITED OFFICIAL USE LONDON 01234",
            Classification.UNCLASSIFIED,
            ("LOU",),
            "09LONDON1234",
        ),
        ("CONFIDENTIAL//NOFORN", Classification.CONFIDENTIAL, ("NOFORN",), None),
        ("SE C R E T SECTION 01 OF 02 XXXXXXXXXXXX 000004", Classification.SECRET, (), None),
    ],
)
def test_banners_are_read_through_their_garbles(
    banner: str, level: Classification, caveats: tuple[str, ...], reference: str | None
) -> None:
    """Letter-spaced, lower-case, garbled and redacted banners give level, caveats and reference."""
    cable = parse_cable(f"R 011200Z JAN 09\nFM AMEMBASSY PARIS\nTO SECSTATE WASHDC\n\n{banner}\n")
    assert cable.banner_classification is level
    assert cable.caveats == caveats
    assert cable.reference == reference


def test_security_warning_and_banner_disagreeing_is_flagged_and_the_higher_wins() -> None:
    """ZNR UUUUU over a SECRET text: flagged, and handled as SECRET (10MEXICO614)."""
    text = (
        "VZCZCXYZ0003\nOO RUEHWEB\n\nDE RUEHME #0614 0501538\nZNR UUUUU ZZH\nO R 191538Z FEB 10\n"
        "FM AMEMBASSY MEXICO\nTO RUEHC/SECSTATE WASHDC IMMEDIATE 0530\n\n"
        "S E C R E T SECTION 01 OF 04 ISLAMABAD 000416\n"
    )
    cable = parse_cable(text)
    assert cable.security_warning is Classification.UNCLASSIFIED
    assert cable.banner_classification is Classification.SECRET
    assert cable.classification is Classification.SECRET
    assert cable.classification_conflict


def test_message_id_is_stable_across_line_ends_and_trailing_blanks() -> None:
    """Without FL3 the identity digests originator, DTG and text, surviving CRLF and blanks."""
    text = (SAMPLES / "dual-precedence.txt").read_text()
    identity = parse_cable(text).message_id
    assert identity == parse_cable(text.replace("\n", "\r\n") + "  \n").message_id
    # Lines padded with blanks or tabs, or folded at another width, are the same cable.
    assert identity == parse_cable(text.replace("\n", " \t \n")).message_id
    assert identity == parse_cable(text + "\n\n\n").message_id
    assert identity == parse_cable(text.replace("any hour", "any\nhour")).message_id
    assert identity != parse_cable(text.replace("any hour", "all hours")).message_id
    assert identity != parse_cable(text.replace("141530Z", "141531Z")).message_id
    assert identity != parse_cable(text.replace("FM SECSTATE", "FM AMEMBASSY ROME")).message_id


@pytest.mark.parametrize(
    ("text", "line", "column", "field"),
    [
        ("VZCZCXYZ0001\nOO RUEHWEB\nDE RUEHKO #1571\nZNY CCCCC ZZH\n", 3, 1, "FL3"),
        ("VZCZCXYZ0001\nOO RUEHWEB\nDE RUEHKO 123 04/1200\nZNY CCCCC ZZH\n", 3, 1, "FL3"),
        ("VZCZCXYZ0001\nOO RUEHWEB\nDE RUEHKO #1571 1610901\nFM AMEMBASSY TOKYO\n", 4, 1, "FL4"),
        ("VZCZCXYZ0001\nOO RUEHWEB\nDE RUEHKO #1571 1610901\nZNY QQQQQ ZZH\n", 4, 1, "FL4"),
        ("VZCZCXYZ0001\nHELLO\n", 2, 1, "FL2"),
        ("R 311200Z FEB 09\nFM AMEMBASSY PARIS\nTO SECSTATE WASHDC\n", 1, 1, "DTG"),
        ("R 011200Z XYZ 09\nFM AMEMBASSY PARIS\nTO SECSTATE WASHDC\n", 1, 1, "DTG"),
        ("R 011200Z JAN 09\nFM AMEMBASSY PARIS\nTO SECSTATE WASHDC\n  FLASH\n", 4, 3, "TO"),
    ],
)
def test_errors_say_where(text: str, line: int, column: int, field: str) -> None:
    """A malformed format line raises CableParseError with its line, column and field."""
    with pytest.raises(CableParseError) as caught:
        parse_cable(text)
    assert (caught.value.line, caught.value.column, caught.value.field) == (line, column, field)
    assert str(caught.value).startswith(f"line {line}, column {column} ({field}): ")


def test_non_utf8_byte_is_located() -> None:
    """An invalid UTF-8 byte is reported at its own line and column."""
    with pytest.raises(CableParseError) as caught:
        parse_cable(b"R 011200Z JAN 09\nFM AMEMBASSY PAR\xffIS\n")
    assert (caught.value.line, caught.value.column) == (2, 17)
    assert "0xff" in caught.value.reason


def test_plain_tail_reading_agrees_with_the_full_reading(corpus_dir: Path) -> None:
    """The one-regex reading of by-the-book address lines gives what the full reading gives."""
    from router.cable.addressee import _PREFIX, _read_plain_tail, _read_tail  # noqa: PLC0415

    checked = 0
    for path in sorted(corpus_dir.glob("*.txt")):
        lines = path.read_text().split("\n")
        for addressee in parse_cable(path.read_bytes()).addressees:
            raw = re.sub(r"^\s*(?:TO|INFO)(?=$|[\s/:])[\s/:]*", "", lines[addressee.line - 1]).strip().upper()
            prefix = _PREFIX.match(raw)
            rest = raw[prefix.end() :] if prefix else raw
            if (plain := _read_plain_tail(rest)) is not None:
                full = _read_tail(rest)
                assert (plain.rest.strip(), plain.precedence, plain.niact, plain.mcn) == (
                    full.rest.strip(),
                    full.precedence,
                    full.niact,
                    full.mcn,
                ), raw
                checked += 1
    assert checked > 10_000


def test_without_text_fields_the_header_and_security_read_the_same() -> None:
    """The switch's reading: the same cable but for SUBJECT, TAGS, REF and E.O., left unread."""
    raw = (Path(__file__).resolve().parent.parent / "samples" / "flash-collective.txt").read_bytes()
    full, quick = parse_cable(raw), parse_cable(raw, text_fields=False)
    assert full.subject
    assert (quick.subject, quick.tags, quick.references, quick.declassification) == (None, (), (), None)
    unread = {"subject", "tags", "references", "declassification"}
    assert quick.model_dump(exclude=unread) == full.model_dump(exclude=unread)


TOKYO_ACP127 = (
    "VZCZCXYZ0000\nOO RUEHWEB\nDE RUEHKO #1571 1610901\nZNY CCCCC ZZH\nO 090901Z JUN 08\n"
    "FM AMEMBASSY TOKYO\nTO RUEHC/SECSTATE WASHDC IMMEDIATE 4887\n\n{banner}\n"
)


def test_fl4_may_be_absent_and_the_text_then_says_the_classification() -> None:
    """§203b(2): without FL4 the message goes over approved channels, handled as its text's banner says."""
    cable = parse_cable(TOKYO_ACP127.replace("ZNY CCCCC ZZH\n", "").format(banner="S E C R E T TOKYO 001571"))
    assert (cable.family, cable.security_warning) == ("acp127", None)
    assert cable.classification is Classification.SECRET
    assert cable.precedence is Precedence.IMMEDIATE
    assert [a.ri for a in cable.to] == ["RUEHC"]


def test_zny_rrrrr_is_restricted() -> None:
    """§124b(2): ZNY RRRRR marks a RESTRICTED message, between UNCLASSIFIED and CONFIDENTIAL."""
    cable = parse_cable(TOKYO_ACP127.replace("ZNY CCCCC", "ZNY RRRRR").format(banner="UNCLAS TOKYO 001571"))
    assert cable.security_warning is Classification.RESTRICTED
    assert cable.classification is Classification.RESTRICTED
    assert Classification.UNCLASSIFIED < Classification.RESTRICTED < Classification.CONFIDENTIAL


@pytest.mark.parametrize(
    ("fl3", "ssn", "filing_time", "message_id"),
    [
        ("DE RUEHKO 123 04/1200Z", 123, "04/1200Z", "RUEHKO-0123-04/1200Z"),  # §115-116: RPDLE 123 11/1215Z
        ("DE RUEHKO 1571 1610901", 1571, "1610901", "RUEHKO-1571-1610901"),  # a Julian date, no # (§221)
        ("DE RUEHKO #1571 1610901", 1571, "1610901", "RUEHKO-1571-1610901"),  # State's own form
    ],
)
def test_fl3_takes_the_base_form_besides_states(
    fl3: str, ssn: int, filing_time: str, message_id: str
) -> None:
    """§115-116: the station serial with or without #, the filing time as day/time or Julian date."""
    cable = parse_cable(
        TOKYO_ACP127.replace("DE RUEHKO #1571 1610901", fl3).format(banner="UNCLAS TOKYO 001571")
    )
    assert cable.station_serial is not None
    assert (cable.station_serial.ssn, cable.station_serial.filing_time) == (ssn, filing_time)
    assert cable.message_id == message_id


def test_an_aig_is_read_as_one_address_without_fm() -> None:
    """§222a: `TO AIG 205` right after FL5 (the AIG denotes the originator); its number is no MCN."""
    text = (
        "VZCZCXYZ0001\nRR RUWSPH RUHPB\nDE RUECW 177 14/1529Z\nZNR UUUUU\nR 141527Z MAR 71\n"
        "TO AIG 205\nINFO AIG 1234 IMMEDIATE\nAIG4321\n\nUNCLAS WHAT WAS 1500Z POSITION\n"
    )
    cable = parse_cable(text)
    assert cable.originator is None
    assert [(a.name, a.mcn) for a in cable.addressees] == [
        ("AIG 205", None),
        ("AIG 1234", None),
        ("AIG 4321", None),
    ]
    assert cable.info[0].written_precedence is Precedence.IMMEDIATE


ACP127_222A = (
    "VZCZCABC027\nRR RUWSPH RUHPB\nDE RUECW 177C 1661529\nZNR UUUUU\nR 141527Z MAR\nTO AIG 205\nBT\n"
    "UNCLAS WHAT WAS 1500Z POSITION\nOF USS ESTES\nBT\nC WA 1500Z POSITION\nNNNN\n"
)
"""ACP 127 §222a's example, as printed (its machine functions left out)."""


def test_the_standards_own_aig_example_parses() -> None:
    """§222a: no FM (the AIG names the originator), FL5 with no year (§113), a lettered serial (§129)."""
    cable = parse_cable(ACP127_222A)
    assert cable.station_serial is not None
    assert (cable.station_serial.ssn, cable.station_serial.position) == (177, "C")
    assert cable.message_id == "RUECW-0177C-1661529"
    assert (cable.precedence, cable.dtg, cable.originator) == (Precedence.ROUTINE, None, None)
    assert [a.name for a in cable.to] == ["AIG 205"]
    assert cable.classification is Classification.UNCLASSIFIED


def test_a_dtg_without_its_year_is_still_checked() -> None:
    """Without a year the day and time must still exist: 30 FEB is no date in any year."""
    with pytest.raises(CableParseError) as caught:
        parse_cable(ACP127_222A.replace("141527Z MAR", "301527Z FEB"))
    assert (caught.value.line, caught.value.field) == (5, "DTG")

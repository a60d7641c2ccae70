"""The MCP door through the official client: stdio against a real `ivig-cds mcp` subprocess, and streamable
HTTP against a real uvicorn on 127.0.0.1 serving the whole app (so /mcp shares it with every other route).

One conversation per transport and protocol era (list the tools, call them, send bad arguments, call a tool
that does not exist) is recorded once per module; each test then checks one promise against every recorded
conversation. The protocol's edges that no well-behaved client sends are in test_mcp_edges.py.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, GetPromptResult, Prompt, TextContent, Tool
from mcp.types.version import LATEST_HANDSHAKE_VERSION, LATEST_MODERN_VERSION

from plugin.app import create_app
from plugin.chat.tool_catalog import ANSWER, DECISION_AID, EVIDENCE
from plugin.config import Settings
from plugin.core.answer.model import WARNING_CODE
from plugin.core.answer.plugin import Plugin
from plugin.core.rules.profile import PatientProfile
from tests.chat.test_mcp_edges import run_stdio
from tests.docs_pages import section

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = Path(sys.executable).with_name("ivig-cds")
ENV = {"IVIG_CDS_EVIDENCE_DIR": str(ROOT / "evidence"), "IVIG_CDS_TEMPLATES_DIR": str(ROOT / "templates")}
PROFILE = {
    "prior_pregnancy_losses": 3,
    "nk_cell_percent": 14,
    "autoimmune_conditions": [],
    "th1_th2_ratio_elevated": False,
    "ivig_start": "conception_cycle",
}
# What the Inspector sent for "Th1/Th2 = yes, NK 14%, three losses": a misread finding and two lost ones.
MISREAD = {"th1_th2_ratio_elevated": False, "nk_cell_percent": None, "prior_pregnancy_losses": None}
# Bad arguments, each with the one error line it must get (field, what is allowed, what was sent).
BAD_ARGUMENTS: dict[str, tuple[dict[str, Any], str]] = {
    "nk_cell_percent": ({"nk_cell_percent": 140}, "nk_cell_percent: must be at most 100"),
    "autoimmune_conditions.0": (
        {"autoimmune_conditions": ["lupus"]},
        "autoimmune_conditions.0: must be one of 'antiphospholipid_syndrome', 'systemic_lupus_erythematosus', "
        "'autoimmune_thyroid_disease' or 'other_autoimmune'",
    ),
    "nk_cells": (
        {"nk_cells": 14},
        "nk_cells: is not an argument of this tool; it takes prior_pregnancy_losses, nk_cell_percent, "
        "autoimmune_conditions, th1_th2_ratio_elevated, ivig_start, rpl_type, baseline_live_birth_risk, "
        "baseline_live_birth_source",
    ),
    "autoimmune_conditions": (
        {"autoimmune_conditions": ["other_autoimmune", "other_autoimmune"]},
        "autoimmune_conditions: each condition may appear only once",
    ),
    "prior_pregnancy_losses": (
        {"prior_pregnancy_losses": 3.5},
        "prior_pregnancy_losses: must be a whole number, or null if not known",
    ),
}
DOI = "10.1186/s13223-022-00660-8"
# The decision aid prompt's arguments are strings (as a query string's are): the "done when" patient of the aid.
AID_ARGUMENTS = {
    "prior_pregnancy_losses": "3",
    "nk_cell_percent": "18",
    "autoimmune_conditions": "antiphospholipid_syndrome",
}


@dataclass(frozen=True)
class Conversation:
    era: str
    protocol_version: str
    capabilities: dict[str, Any]
    tools: list[Tool]
    answer: CallToolResult
    misread: CallToolResult
    whole_float: CallToolResult
    evidence: CallToolResult
    bad_answers: dict[str, CallToolResult]
    bad_evidence: CallToolResult
    unknown_tool: MCPError
    prompts: list[Prompt]
    aid: GetPromptResult
    bad_aid: MCPError


async def converse(session: ClientSession, era: str) -> Conversation:
    """Connect in the given era, list the tools, call each, then with bad arguments, then a tool not served."""
    if era == "modern":
        await session.discover()
    else:
        await session.initialize()
    assert session.protocol_version is not None and session.server_capabilities is not None
    tools = (await session.list_tools()).tools
    bad = {field: await session.call_tool(ANSWER.name, args) for field, (args, _) in BAD_ARGUMENTS.items()}
    try:
        await session.call_tool("ivig_rpl_dosing", {})
    except MCPError as exc:
        unknown_tool = exc
    else:
        pytest.fail("calling a tool that does not exist succeeded")
    try:
        await session.get_prompt(DECISION_AID.name, {"nk_cell_percent": "140", "autoimmune_conditions": "xyzzy"})
    except MCPError as exc:
        bad_aid = exc
    else:
        pytest.fail("a decision aid with bad arguments was given")
    return Conversation(
        era=era,
        protocol_version=session.protocol_version,
        capabilities=session.server_capabilities.model_dump(by_alias=True, exclude_none=True),
        tools=tools,
        answer=await session.call_tool(ANSWER.name, PROFILE),
        misread=await session.call_tool(ANSWER.name, MISREAD),
        whole_float=await session.call_tool(ANSWER.name, {**PROFILE, "prior_pregnancy_losses": 3.0}),
        evidence=await session.call_tool(EVIDENCE.name, {}),
        bad_answers=bad,
        bad_evidence=await session.call_tool(EVIDENCE.name, {"analysis": "other"}),
        unknown_tool=unknown_tool,
        prompts=(await session.list_prompts()).prompts,
        aid=await session.get_prompt(DECISION_AID.name, AID_ARGUMENTS),
        bad_aid=bad_aid,
    )


def in_own_thread(run: Callable[[], Awaitable[Conversation]]) -> Conversation:
    """Run on a fresh event loop in a worker thread: another fixture may hold a running loop in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, run).result()


def over_stdio(era: str, errlog_path: Path) -> Conversation:
    params = StdioServerParameters(command=str(CONSOLE_SCRIPT), args=["mcp"], env=ENV, cwd=ROOT)

    async def run() -> Conversation:
        with errlog_path.open("w", encoding="utf-8") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                return await converse(session, era)

    return in_own_thread(run)


def over_http(url: str, era: str) -> Conversation:
    async def run() -> Conversation:
        async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
            return await converse(session, era)

    return in_own_thread(run)


@pytest.fixture(scope="module", params=["stdio-legacy", "stdio-modern", "http-legacy", "http-modern"])
def conversation(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Conversation:
    transport, era = request.param.split("-")
    if transport == "http":
        return over_http(f"{request.getfixturevalue('base_url')}/mcp", era)
    return over_stdio(era, tmp_path_factory.mktemp("mcp") / "stderr.txt")


def tool(conversation: Conversation, name: str) -> Tool:
    return next(t for t in conversation.tools if t.name == name)


def text_of(result: CallToolResult) -> str:
    assert len(result.content) == 1 and isinstance(result.content[0], TextContent)
    return result.content[0].text


def test_the_client_speaks_the_latest_revision_of_the_era_it_chose(conversation: Conversation) -> None:
    expected = LATEST_MODERN_VERSION if conversation.era == "modern" else LATEST_HANDSHAKE_VERSION
    assert conversation.protocol_version == expected


def test_the_server_lists_the_answer_and_evidence_tools_in_a_fixed_order(conversation: Conversation) -> None:
    assert [t.name for t in conversation.tools] == [ANSWER.name, EVIDENCE.name]


def test_tool_names_are_short_snake_case_that_every_provider_accepts(conversation: Conversation) -> None:
    for listed in conversation.tools:
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,29}", listed.name)
        assert listed.title


def test_every_tool_is_read_only_and_closed_world(conversation: Conversation) -> None:
    for listed in conversation.tools:
        assert listed.annotations is not None
        assert listed.annotations.read_only_hint is True
        assert listed.annotations.open_world_hint is False


def test_every_tool_declares_an_object_output_schema(conversation: Conversation) -> None:
    for listed in conversation.tools:
        assert listed.output_schema is not None and listed.output_schema["type"] == "object"


def test_descriptions_say_the_evidence_is_nonrandomized_decision_support_and_the_warning_must_be_shown(
    conversation: Conversation,
) -> None:
    for listed in conversation.tools:
        description = (listed.description or "").lower()
        for term in ("non-randomized", "habets", "not a prescription", "dosing", WARNING_CODE):
            assert term in description, (listed.name, term)
        # What every answer holds beside the estimates, and the harms named (not "says nothing about safety").
        for term in ("randomized evidence", "guidance", "standard care", "thrombosis", "acute renal failure"):
            assert term in description, (listed.name, term)
        assert "nothing about" not in description


def test_the_answer_tool_says_null_is_unknown_and_to_ask_the_user_instead_of_guessing(
    conversation: Conversation,
) -> None:
    listed = tool(conversation, ANSWER.name)
    description = (listed.description or "").lower()
    assert "null (or leaving a field out) means not known" in description
    assert "ask the user for it; never assume it" in description
    for name, field in listed.input_schema["properties"].items():
        assert "null or left out means not known" in field["description"].lower(), name


def test_schema_examples_show_unknowns_as_null_never_as_none_values(conversation: Conversation) -> None:
    (example,) = tool(conversation, ANSWER.name).input_schema["examples"]
    assert set(example) == set(PatientProfile.model_fields)
    assert [] not in example.values() and False not in example.values()
    assert example["autoimmune_conditions"] is None and example["th1_th2_ratio_elevated"] is None


def test_the_schema_refuses_duplicate_conditions_as_the_server_does(conversation: Conversation) -> None:
    schema = tool(conversation, ANSWER.name).input_schema
    duplicated = {"autoimmune_conditions": ["other_autoimmune", "other_autoimmune"]}
    assert not Draft202012Validator(schema).is_valid(duplicated)
    assert conversation.bad_answers["autoimmune_conditions"].is_error is True


def test_the_answer_tool_input_schema_is_the_patient_profile_schema(conversation: Conversation) -> None:
    assert tool(conversation, ANSWER.name).input_schema == PatientProfile.model_json_schema()


def test_the_evidence_tool_takes_no_arguments(conversation: Conversation) -> None:
    schema = tool(conversation, EVIDENCE.name).input_schema
    assert schema["properties"] == {} and schema["additionalProperties"] is False


def test_the_answer_is_matched_with_both_subgroups_then_overall_and_the_warning(conversation: Conversation) -> None:
    answer = conversation.answer.structured_content
    assert conversation.answer.is_error is False and answer is not None
    assert answer["status"] == "matched"
    assert [e["id"] for e in answer["estimates"]] == [
        "habets-2022-ivig-rpl#nk-above-12",
        "habets-2022-ivig-rpl#start-before-or-during-conception-cycle",
        "habets-2022-ivig-rpl#overall",
    ]
    assert WARNING_CODE in [w["code"] for w in answer["warnings"]]


def test_the_structured_answer_is_what_post_v1_answer_returns_without_its_renderings(
    conversation: Conversation, client: TestClient
) -> None:
    posted = client.post("/v1/answer", json=PROFILE).json()
    assert conversation.answer.structured_content == {k: v for k, v in posted.items() if k != "rendered"}


def test_the_text_is_the_understood_line_then_the_first_two_layers_and_the_full_answer_is_structured(
    conversation: Conversation, client: TestClient, plugin: Plugin
) -> None:
    full = client.post("/v1/answer", json=PROFILE).json()
    layers = plugin.renderer.render(plugin.answer(PatientProfile.model_validate(PROFILE)), "markdown", "evidence")
    first, rest = text_of(conversation.answer).split("\n\n", 1)
    assert first == (
        "**Understood:** prior_pregnancy_losses = 3; nk_cell_percent = 14.0; autoimmune_conditions = []; "
        'th1_th2_ratio_elevated = false; ivig_start = "conception_cycle". **Unknown:** rpl_type, '
        "baseline_live_birth_risk, baseline_live_birth_source. If any of this is wrong, call again corrected "
        "(null = not known)."
    )
    assert rest == layers
    assert rest.startswith(f"## IVIG and live birth\n\n**At a glance.** {full['at_a_glance']['headline']}")
    assert "### Detail" not in rest and "### Detail" in full["rendered"]["markdown"]
    structured = conversation.answer.structured_content
    assert structured is not None and structured["at_a_glance"] == full["at_a_glance"]
    assert structured["context"] == full["context"]  # the full answer, every record with its quotation


def test_a_misread_finding_is_restated_as_received_and_lost_ones_are_named_unknown(
    conversation: Conversation,
) -> None:
    first = text_of(conversation.misread).split("\n", 1)[0]
    assert "th1_th2_ratio_elevated = false" in first
    unknown = first.split("**Unknown:** ", 1)[1].split(".", 1)[0].split(", ")
    assert {"nk_cell_percent", "prior_pregnancy_losses"} <= set(unknown)
    assert conversation.misread.structured_content is not None
    assert conversation.misread.structured_content["profile"]["th1_th2_ratio_elevated"] is False


def test_the_text_carries_no_internal_row_or_table_ids(conversation: Conversation) -> None:
    for result in (conversation.answer, conversation.misread, conversation.evidence):
        assert not re.search(r"\bR\d+\b|habets-2022-ivig-rpl-(status|estimates|notes|context)", text_of(result))
    trace = (conversation.answer.structured_content or {})["trace"]
    assert [step["rows"] for step in trace][:2] == [["R2"], ["R1"]]  # the ids stay in the JSON


def test_a_whole_number_sent_as_3_0_is_read_as_3(conversation: Conversation) -> None:
    assert conversation.whole_float.is_error is False
    assert conversation.whole_float.structured_content == conversation.answer.structured_content


@pytest.mark.parametrize("field", BAD_ARGUMENTS)
def test_bad_arguments_come_back_as_a_tool_error_with_one_short_line_per_field(
    conversation: Conversation, field: str
) -> None:
    result = conversation.bad_answers[field]
    assert result.is_error is True and result.structured_content is None
    lines = text_of(result).splitlines()
    assert lines[0] == f"Invalid arguments for {ANSWER.name}:"
    assert lines[1] == f"- {BAD_ARGUMENTS[field][1]}"
    assert "pydantic" not in text_of(result) and "http" not in text_of(result)


def test_an_argument_sent_to_the_evidence_tool_is_a_tool_error_naming_it(conversation: Conversation) -> None:
    assert conversation.bad_evidence.is_error is True
    assert text_of(conversation.bad_evidence).splitlines()[1].startswith("- analysis: is not an argument")


def test_a_tool_that_does_not_exist_is_a_json_rpc_invalid_params_error(conversation: Conversation) -> None:
    assert conversation.unknown_tool.code == INVALID_PARAMS
    assert conversation.unknown_tool.message.startswith("name: unknown tool 'ivig_rpl_dosing'")


def test_the_evidence_tool_returns_estimates_certainty_citation_version_and_warning(
    conversation: Conversation, plugin: Plugin
) -> None:
    evidence = conversation.evidence.structured_content
    assert conversation.evidence.is_error is False and evidence is not None
    assert {e["id"] for e in evidence["estimates"]} == {
        "habets-2022-ivig-rpl#overall",
        "habets-2022-ivig-rpl#nk-above-12",
        "habets-2022-ivig-rpl#start-before-or-during-conception-cycle",
    }
    assert all(e["certainty"]["level"] for e in evidence["estimates"])
    assert evidence["citation"]["doi"] == DOI
    assert evidence["evidence_version"] == plugin.store.version
    assert [w["code"] for w in evidence["warnings"]] == [WARNING_CODE]
    assert len(evidence["context"]) == len(plugin.store.context)


def test_the_evidence_text_is_short_markdown_that_leads_with_the_warning(conversation: Conversation) -> None:
    evidence = conversation.evidence.structured_content
    assert evidence is not None
    text = text_of(conversation.evidence)
    assert text.startswith(f"> **Non-randomized evidence.** {evidence['warnings'][0]['text']}\n")
    assert "| All studies | 1.98 (1.44 to 2.73) | < 0.0001 | 8 studies, 478 women |" in text
    assert f"doi:{DOI}" in text and evidence["evidence_version"] in text
    assert "- Ling 2024, 12 RCTs: OR 1.07 (0.65 to 1.75)" in text
    assert "- `promise2015_placebo_baseline`: 63.3%, per randomised woman (randomised after conceiving)" in text
    # Observed 5,890 characters for 38 records, a line each, grouped by kind; the statements in full are in the
    # structured content.
    assert len(text) < 6500 and not text.lstrip().startswith("{")


def test_tools_list_is_under_8_kb(conversation: Conversation) -> None:
    listed = [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in conversation.tools]
    assert len(json.dumps({"tools": listed}, separators=(",", ":"))) < 8192


def test_capabilities_are_tools_and_prompts_in_every_era_and_transport(conversation: Conversation) -> None:
    assert conversation.capabilities == {"prompts": {"listChanged": False}, "tools": {"listChanged": False}}


def test_the_decision_aid_prompt_is_listed_as_material_for_a_conversation_not_advice(
    conversation: Conversation,
) -> None:
    (prompt,) = conversation.prompts
    assert (prompt.name, prompt.title) == (
        "ivig_rpl_decision_aid",
        "IVIG in recurrent pregnancy loss: decision aid for the talk with the patient",
    )
    assert "material for a conversation with a clinician, not advice" in (prompt.description or "")
    assert prompt.arguments is not None
    assert [(a.name, a.required) for a in prompt.arguments] == [(name, False) for name in PatientProfile.model_fields]
    conditions = next(a for a in prompt.arguments if a.name == "autoimmune_conditions")
    assert "Comma-separated, each at most once" in (conditions.description or "")


def test_the_decision_aid_prompt_gives_the_aid_in_plain_words_with_standard_care_harms_and_sources(
    conversation: Conversation,
) -> None:
    (message,) = conversation.aid.messages
    assert message.role == "user" and isinstance(message.content, TextContent)
    text = message.content.text
    assert conversation.aid.description == (
        "IVIG in recurrent pregnancy loss: decision aid for the talk with the patient: material for a conversation "
        "with a clinician, not advice."
    )
    assert text.startswith(
        "The text below is a decision aid for the talk between a woman and her clinician: material for a "
        "conversation with a clinician, not advice. Share it as it is"
    )
    assert "Made for: 3 pregnancies lost; NK cells 18%; antiphospholipid syndrome (APS)." in text
    assert "- Aspirin and heparin: the standard care for APS. A European guideline (ESHRE 2017)" in text
    assert "400 mg for each kg of their weight, each day for 5 days in a row" in text
    assert "Blood clots. In the US, every IVIG product carries a boxed warning about them (US FDA 2013)." in text
    assert "WHAT WE DO NOT KNOW" in text and "QUESTIONS YOU MAY WANT TO ASK" in text
    assert f"https://doi.org/{DOI}" not in text and f"doi:{DOI}" in text
    assert "The sources were last searched in November 2026." in text


def test_bad_decision_aid_arguments_are_invalid_params_naming_each_field_never_the_value(
    conversation: Conversation,
) -> None:
    error = conversation.bad_aid.error
    assert error.code == INVALID_PARAMS
    assert error.message == (
        f"Invalid arguments for {DECISION_AID.name}: nk_cell_percent: Input should be less than or equal to 100; "
        "autoimmune_conditions: Input should be 'antiphospholipid_syndrome', 'systemic_lupus_erythematosus', "
        "'autoimmune_thyroid_disease' or 'other_autoimmune'"
    )
    assert "140" not in error.message and "xyzzy" not in error.message


def test_stdout_of_ivig_cds_mcp_carries_nothing_but_json_rpc() -> None:
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": ANSWER.name, "arguments": PROFILE}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": ANSWER.name, "arguments": {"x": 1}}},
    ]
    got, log, returncode = run_stdio([json.dumps(m) for m in messages], ENV, replies=3)
    replies = sorted(got, key=lambda r: r["id"])
    assert [(r["jsonrpc"], r["id"]) for r in replies] == [("2.0", 1), ("2.0", 2), ("2.0", 3)]
    assert replies[1]["result"]["structuredContent"]["status"] == "matched"
    assert replies[2]["result"]["isError"] is True
    assert returncode == 0
    assert ANSWER.name in log  # the rejected call is logged, on stderr


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def test_the_other_routes_are_served_beside_mcp_by_the_same_server(base_url: str) -> None:
    assert httpx.get(f"{base_url}/healthz").status_code == 200
    assert httpx.get(f"{base_url}/v1/tools", params={"format": "openai"}).status_code == 200
    assert httpx.post(f"{base_url}/v1/answer", json=PROFILE).json()["status"] == "matched"
    missing = httpx.get(f"{base_url}/no-such-route")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "request.not_found")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"Origin": "http://localhost:5173"}, 200),
        ({"Host": "cds.example.org"}, 421),
        ({"Origin": "https://evil.example"}, 403),
    ],
    ids=["localhost", "local-origin", "foreign-host", "foreign-origin"],
)
def test_mcp_over_http_answers_only_allowed_hosts_and_origins(
    base_url: str, headers: dict[str, str], status: int
) -> None:
    response = httpx.post(f"{base_url}/mcp", json=INITIALIZE, headers=MCP_HEADERS | headers)
    assert response.status_code == status


def test_allowed_hosts_come_from_settings_and_the_app_starts_twice(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"mcp_allowed_hosts": ("testserver",)}))
    for _ in range(2):  # each start runs a fresh session manager; the SDK's runs only once
        with TestClient(app) as client:
            response = client.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            assert response.status_code == 200
            assert response.json()["result"]["serverInfo"]["name"] == "ivig-cds"


def test_mcp_answers_503_with_a_code_when_the_app_was_never_started(settings: Settings) -> None:
    response = TestClient(create_app(settings)).post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "mcp.not_running"


def test_the_app_starts_without_the_mcp_sdk_and_imports_it_for_the_first_mcp_request() -> None:
    """`serve` answers its first request without waiting the half second the SDK takes to import, and the other
    doors are not slowed by that import going on beside them."""
    script = "\n".join(
        [
            "import sys",
            "from fastapi.testclient import TestClient",
            "from plugin.app import create_app",
            "app = create_app()",
            "print('mcp' in sys.modules)",
            "with TestClient(app) as client:",
            "    client.get('/healthz')",
            "    print('mcp' in sys.modules)",
            f"    response = client.post('/mcp', json={INITIALIZE!r}, headers={MCP_HEADERS!r})",
            "print(response.status_code, response.json()['result']['serverInfo']['name'], 'mcp' in sys.modules)",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV, "IVIG_CDS_MCP_ALLOWED_HOSTS": '["testserver"]'},
        check=True,
    )
    assert result.stdout.split() == ["False", "False", "200", "ivig-cds", "True"]


def test_building_the_app_keeps_library_info_logs_silent() -> None:
    """The SDK configures root logging when the server is built; INFO lines (request URLs) must stay off."""
    script = "import logging; from plugin.app import create_app; create_app(); print(logging.getLogger().level)"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, **ENV}, check=True
    )
    assert int(result.stdout) >= logging.WARNING


def test_the_documented_client_snippets_point_at_the_real_doors() -> None:
    chat = section("chat.md", "Chat assistants (MCP and function calling)")
    stdio, http = (
        json.loads(block)["mcpServers"]["ivig-cds"] for block in re.findall(r"```json\n(.*?)```", chat, re.S)
    )
    assert (Path(stdio["command"]).name, stdio["args"]) == ("ivig-cds", ["mcp"])
    assert http["url"] == "http://127.0.0.1:8000/mcp"
    assert set(re.findall(r'"name": "(ivig_rpl_\w+)"', chat)) <= {ANSWER.name, EVIDENCE.name}
    # The README's quickstart shows the HTTP door's snippet as the page does, and names the tools and the prompt
    # the server offers.
    quickstart = section("README.md", "Chat assistants (MCP and function calling)")
    (shown,) = (
        json.loads(block)["mcpServers"]["ivig-cds"] for block in re.findall(r"```json\n(.*?)```", quickstart, re.S)
    )
    assert shown == http
    assert set(re.findall(r"`(ivig_rpl_\w+)`", quickstart)) == {ANSWER.name, EVIDENCE.name, DECISION_AID.name}

"""Templates compiled at one start are kept as bytecode for the next, by the checksum of each source; a cache that
cannot be written costs only compiling again."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from plugin.config import Settings
from plugin.core.answer.plugin import Plugin, compile_templates
from plugin.core.answer.render import Renderer, compiler_key
from plugin.core.rules.profile import PatientProfile

PROFILE = PatientProfile(prior_pregnancy_losses=3, nk_cell_percent=18.4, baseline_live_birth_risk=0.3)


def refuse_to_compile(monkeypatch: pytest.MonkeyPatch, renderer: Renderer) -> None:
    def compile_nothing(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled a template the cache holds")

    monkeypatch.setattr(renderer.env, "compile", compile_nothing)


def test_a_second_start_compiles_no_template_and_renders_the_same(
    plugin: Plugin, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Renderer(settings.templates_dir, compiled_dir=tmp_path)
    compile_templates(first)
    kept = list((tmp_path / compiler_key()).iterdir())
    assert len(kept) == len(first.env.list_templates(filter_func=lambda name: name.endswith(".j2")))
    second = Renderer(settings.templates_dir, compiled_dir=tmp_path)
    refuse_to_compile(monkeypatch, second)
    compile_templates(second)
    answer = plugin.compute(PROFILE)
    for fmt in ("markdown", "text"):
        assert second.render(answer, fmt) == Renderer(settings.templates_dir).render(answer, fmt)


def test_a_changed_template_is_compiled_again(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "one.j2").write_text("first {{ x }}", encoding="utf-8")
    assert Renderer(templates, compiled_dir=tmp_path / "c").env.get_template("one.j2").render(x=1) == "first 1"
    (templates / "one.j2").write_text("second {{ x }}", encoding="utf-8")
    assert Renderer(templates, compiled_dir=tmp_path / "c").env.get_template("one.j2").render(x=1) == "second 1"


def test_a_cache_that_cannot_be_written_only_means_compiling_again(settings: Settings, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory", encoding="utf-8")
    renderer = Renderer(settings.templates_dir, compiled_dir=blocked / "templates")
    compile_templates(renderer)
    assert renderer.env.get_template("chat/answer.md.j2") is not None


def test_the_compiled_templates_sit_under_the_data_directory_unless_set(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.compiled_templates_dir == tmp_path / "cache" / "templates"
    assert Settings(data_dir=tmp_path, compiled_templates_dir="").compiled_templates_dir is None


def test_other_environment_code_uses_other_compiled_templates(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytecode depends on the environment's options as well as the source: it is kept per version of that code."""
    compile_templates(Renderer(settings.templates_dir, compiled_dir=tmp_path))
    monkeypatch.setattr(jinja2, "__version__", "0.0-other")
    other = Renderer(settings.templates_dir, compiled_dir=tmp_path)
    assert other.env.bytecode_cache is not None
    compile_templates(other)
    assert len(list(tmp_path.iterdir())) == 2

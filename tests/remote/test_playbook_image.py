"""A playbook declares the image family it was checked on (top-level `image:`); --image overrides it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdabench.errors import LambdabenchError
from lambdabench.remote.playbook import load_playbook
from lambdabench.run.plan import Benchmark, choose_image

BOOK = "name: pinned\ndescription: d\n{image}steps:\n  - run: echo hi\n"


def _book(tmp_path: Path, image: str) -> Path:
    path = tmp_path / "pinned.yaml"
    path.write_text(BOOK.format(image=image))
    return path


def test_image_key_read_and_chosen(tmp_path: Path) -> None:
    book = load_playbook(_book(tmp_path, "image: lambda-stack-22-04\n"))
    assert book.image == "lambda-stack-22-04"
    bench = Benchmark(book, [], [], {}, preflight=book)
    assert choose_image(None, bench) == ("lambda-stack-22-04", "playbook pinned")
    assert choose_image("lambda-stack-24-04", bench) == ("lambda-stack-24-04", "--image")
    with pytest.raises(LambdabenchError, match="not offered"):
        choose_image(None, bench, ["lambda-stack-24-04"])
    plain = load_playbook(_book(tmp_path, ""))
    assert plain.image is None and choose_image(None, Benchmark(plain, [], [], {}, preflight=plain)) == (None, "")


def test_bad_image_value_refused(tmp_path: Path) -> None:
    with pytest.raises(LambdabenchError, match="`image` must be an image family name"):
        load_playbook(_book(tmp_path, "image: {family: x}\n"))

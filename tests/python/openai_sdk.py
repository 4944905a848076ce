"""The official `openai` package, unchanged, against Confab's OpenAI-compatible API.

Run by tests/api/openai_sdk.rs, which starts Confab with a fake upstream and passes
CONFAB_BASE_URL, CONFAB_TOKEN (a user's access token) and CONFAB_EXPECT_REPLY (what the fake
answers). Exits non-zero, with the failing check's traceback, if anything differs.
"""

import base64
import os
import urllib.request

import openai
from openai import OpenAI

BASE = os.environ["CONFAB_BASE_URL"]
EXPECTED = os.environ["CONFAB_EXPECT_REPLY"]
PNG = b"\x89PNG\r\n\x1a\n"
client = OpenAI(base_url=f"{BASE}/v1", api_key=os.environ["CONFAB_TOKEN"], max_retries=0, timeout=20)
ASK = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]


def models():
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o-mini" in ids and "dall-e-3" in ids, ids
    model = client.models.retrieve("gpt-4o-mini")
    assert model.id == "gpt-4o-mini" and model.object == "model", model


def streamed_completion():
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=ASK,
        stream=True,
        stream_options={"include_usage": True},
        temperature=0.2,
    )
    text, finish, usage, ids = "", None, None, set()
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk", chunk
        ids.add(chunk.id)
        if chunk.usage is not None:
            usage = chunk.usage
            assert chunk.choices == [], chunk
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text == EXPECTED, text
    assert finish == "stop", finish
    assert len(ids) == 1, ids
    assert usage is not None and usage.completion_tokens > 0, usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, usage

    # Without include_usage no chunk carries usage.
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=ASK, stream=True))
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == EXPECTED


def whole_completion():
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=ASK, max_tokens=50)
    assert completion.object == "chat.completion", completion
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == EXPECTED, completion
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def images():
    result = client.images.generate(model="dall-e-3", prompt="a lighthouse at dusk", n=2, size="1024x1024")
    assert len(result.data) == 2, result
    for image in result.data:
        assert image.url.startswith(f"{BASE}/files/"), image.url
        with urllib.request.urlopen(image.url) as served:
            assert served.headers["Content-Type"] == "image/png"
            assert served.read().startswith(PNG)
    inline = client.images.generate(model="dall-e-3", prompt="a fox", response_format="b64_json")
    assert inline.data[0].url is None
    assert base64.b64decode(inline.data[0].b64_json).startswith(PNG)


def errors():
    """Confab's errors arrive as the SDK's typed exceptions, with OpenAI's code and param."""
    cases = [
        (dict(model="no-such-model", messages=ASK), openai.NotFoundError, "model_not_found", "model"),
        (dict(model="gpt-4o-mini", messages=ASK, temperature=5), openai.BadRequestError, "invalid_request", "temperature"),
        (dict(model="gpt-4o-mini", messages=[]), openai.BadRequestError, "invalid_request", "messages"),
    ]
    for arguments, exception, code, param in cases:
        try:
            client.chat.completions.create(**arguments)
        except exception as error:
            assert error.code == code and error.param == param, (error.code, error.param)
        else:
            raise AssertionError(f"{arguments} did not fail")
    try:
        client.images.generate(model="dall-e-3", prompt="x", n=20)
    except openai.BadRequestError as error:
        assert error.code == "invalid_request" and error.param == "n"
    else:
        raise AssertionError("n=20 did not fail")
    try:
        client.with_options(api_key="not-a-token").models.list()
    except openai.AuthenticationError as error:
        assert error.status_code == 401
    else:
        raise AssertionError("a bad token was accepted")
    try:
        client.with_options(api_key="sk-" + "0" * 48).models.list()
    except openai.AuthenticationError as error:
        assert error.status_code == 401 and error.code == "invalid_api_key"
    else:
        raise AssertionError("an unknown API key was accepted")


for check in (models, streamed_completion, whole_completion, images, errors):
    check()
    print(f"ok {check.__name__}")

"""SDK clients that talk to the stand-in server through a proxy under test."""

from __future__ import annotations

import anthropic
import openai


def anthropic_client(proxy, standin) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-test", base_url=f"http://127.0.0.1:{standin.port}", max_retries=0,
        http_client=anthropic.DefaultHttpxClient(proxy=proxy.url, timeout=30),
    )


def openai_client(proxy, standin) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test", base_url=f"http://127.0.0.1:{standin.port}/v1", max_retries=0,
        http_client=openai.DefaultHttpxClient(proxy=proxy.url, timeout=30),
    )


def chat_stream_text_and_arguments(stream) -> tuple[str, str]:
    """The text and the first tool call's arguments of a streamed OpenAI chat completion."""
    text, args = "", ""
    for chunk in stream:
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta and delta.content:
            text += delta.content
        if delta and delta.tool_calls:
            args += delta.tool_calls[0].function.arguments or ""
    return text, args

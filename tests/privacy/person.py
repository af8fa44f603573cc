"""The person the privacy tests export and erase."""

from __future__ import annotations

from urllib.parse import urlsplit

NAME = "欧阳娜娜"
EMAIL = "ouyang.nana@example.com"
PHONE = "139-1234-5678"
HTML = (
    "<!doctype html><html><head><meta charset='utf-8'></head><body>"
    "<h1>{{ customer.name }} {{ customer.email }} {{ customer.phone }}</h1><p>报价</p>"
    "</body></html>"
)


def path_of(url: str) -> str:
    return urlsplit(url).path

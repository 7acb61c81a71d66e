def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """ "1 paper", "3 papers"; irregular words give their plural: plural(2, "delivery", "deliveries")."""
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"

"""The notification preferences form: one checkbox per category and channel."""

from __future__ import annotations

from django import forms

from .enums import Category, Channel


def field_name(category: str, channel: str) -> str:
    return f"{category.lower()}_{channel.lower()}"


class PreferencesForm(forms.Form):
    """A checkbox per (category, channel); locked ones (security emails) are shown checked and
    disabled, and always read as on."""

    def __init__(self, *args, preferences: list[dict], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rows = []
        for pref in preferences:
            name = field_name(pref["category"], pref["channel"])
            self.fields[name] = forms.BooleanField(
                required=False,
                initial=pref["enabled"],
                disabled=pref["locked"],
                label=f"{Category(pref['category']).label} by "
                f"{Channel(pref['channel']).label.lower()}",
            )
            self.rows.append((pref, name))

    def changes(self) -> list[tuple[str, str, bool]]:
        return [
            (pref["category"], pref["channel"], bool(self.cleaned_data[name]))
            for pref, name in self.rows
            if not pref["locked"]
        ]

    def grid(self) -> list[tuple[str, list]]:
        """Rows of the page's table: category label -> its bound fields in channel order."""
        table: dict[str, list] = {}
        for pref, name in self.rows:
            table.setdefault(Category(pref["category"]).label, []).append(self[name])
        return list(table.items())

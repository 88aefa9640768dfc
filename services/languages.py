"""The languages of every user-facing text, default first: Arabic, French, English.

Kept alone and free of imports so that the portal, the catalog, the policies and the
`marsad` command's options (read by `marsad --help`) can all take it without weight.
"""
LANGUAGES = ("ar", "fr", "en")

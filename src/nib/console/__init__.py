"""The web console (/console): server-rendered pages over every domain's services."""

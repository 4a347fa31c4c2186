"""Realtime: the WebSocket (``/v1/realtime``) through which clients receive the events of the
writes they may read, from whichever process served the write."""

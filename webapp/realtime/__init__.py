"""The realtime core: channels, rules, presence, history and frame dispatch.

Nothing here imports Flask, Socket.IO, eventlet or Redis: transports and
backends reach the core through the small interfaces it defines.
"""

"""The local container-credentials server (`keyrack exec`, `keyrack serve`).

Three rooms: `source` asks the engine for a profile's credentials exactly as
credential_process does (same cache, refresh, herd lock, unlock policy) and
notices a relock; `handler` speaks the AWS container credentials protocol with
its checks and bounds; `lifetime` starts and stops a server on 127.0.0.1.
"""

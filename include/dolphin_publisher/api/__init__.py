"""The ``/api/v1`` workflow API: platform workflows with versions, published to DolphinScheduler.

Authentication and authorisation are the host's: ``create_app`` binds its read and write
dependencies (the write dependency's caller becomes the ``operator`` of versions and publish
records). Answers use the envelope shared with the task API; tokens never appear in one: the
config's public view leaves them out and errors carry only the server's code and msg.
The app: ``dolphin_publisher.api.app.create_app``.
"""

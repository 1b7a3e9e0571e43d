"""Storage backends of remotes: a local folder, any fsspec filesystem, and obstore.

Every backend holds the content-addressed layout ``<root>/blake3/ab/cdef...`` and
offers the same batch interface (:class:`Backend`), so the transfer engine never
knows which client moves the bytes.
"""

"""HTTP surface: the Flask app, CDS Hooks request validation, client JWTs, discovery, feedback, and the
invocation pipeline that runs record → engine → cards for one hook call.

May import every other stage (record, engine, cards) and the top-level config and logs; nothing imports it back.
"""

"""WebShop offline: a generated shop (or the real benchmark's files) behind the real protocol.

Modules: `vocab` (the generated shop's words), `catalog` (products and their generator),
`goals` (instructions and splits), `search` (BM25), `reward` (the real `get_reward`),
`shop` (products + index, cached per process), `pages` (the page state machine and its ReAct
and gym text renderings), `env` (`WebShopEnv`, `WebShopSuite`), `real_data` (the real files),
`expert` (a scripted expert that reads only what a shopper sees).
"""

"""HotPotQA as ReAct plays it, offline: a local wiki behind ReAct's `wikienv` actions.

Modules: `pages` (wikienv's text rules and search), `relations` (the generated wiki's
sentences), `lexicon` (names), `wiki` (the generated world), `questions` (bridge and
comparison questions per split), `scoring` (the official EM / F1), `env` (the environment and
task suite), `real_data` (a user's official HotPotQA file, `HOTPOTQA_DATA`), `expert` (the
scripted expert).
"""

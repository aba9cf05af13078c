"""The incident closed loop (事件闭环): reporting, the workflow state machine, deadlines,
dispatch rules, photos and the ledgers. See docs/INCIDENTS.md."""

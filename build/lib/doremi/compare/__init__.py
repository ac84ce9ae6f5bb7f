"""The one compare engine under stage=compare and stage=sft_compare: contestants (a mixture, an SFT set) trained
on seeds as fingerprinted trials, identical contestants sharing their trials, the design that spends the runs
(screen then confirm, one stage, Stein's two stages), the verdicts and the decision (doremi.stats.decide), the
leaderboard's skeleton and its noise floor. Imports the folders below it; the stages supply the contestants."""

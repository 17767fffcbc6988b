"""The case workflow as pure rules: what may happen on a link, and what has happened.

- ``refs``: the pseudonymous reference minted per link (country, random part, check character);
- ``stages``: the stages of a link and the two sides (identifying State, State of origin);
- ``events``: what the fold reads of a message or a local action (``Event``, ``Facts``);
- ``transitions``: the transition table as data, and ``judge``, the one function that decides
  what a local official may submit and what a partner's message does;
- ``fold``: a link's state as a fold over its events in one canonical order;
- ``gate``: the evidence checklist and the return gate (G1–G5) and its override;
- ``guardian``: the guardian clock from identification time;
- ``clocks``: deadlines per kind and urgency (agreement or network default), one request's clock
  from the signed receipt, and the reminder and escalation ladders (the guardian's too);
- ``diagram``: the state diagram drawn from the table (docs/cases.md);
- ``forms``: the YAML forms officials fill, one per kind, and reading them back into a body;
- ``facts``: from a wire body to the facts the fold reads; ``codec``: events to bytes and back;
- ``views``: each role's projection of a body (allow-lists of field paths), and the State of
  origin's answer on nationality that decides a consul's access;
- ``codes``: the network code list in use: which codes a version does not know (a sender refuses
  them), how a code reads in a language (an unknown newer code shown, never dropped), and country
  and language names from CLDR (Babel);
- ``disclosure``: disclosure control for indicators (counts 1–9 withheld with their complements,
  percentages and durations only from 10, calendar periods only) and the output envelope
  (docs/indicators.md); ``indicators``: each link's facts read once and the indicators
  I1–I12 computed from them, with their definitions as data.

Imports: ``directory``, ``focalpoint.exchange``, ``focalpoint.people`` and the foundation (``errors``, ``ids``, ``v1``).
No I/O, no clock reads (the time is passed in), no grpc. Modules are imported by name, so one
that needs a heavy dependency (Babel) costs nothing to the others.
"""

from focalpoint.cases.refs import check_case_ref, mint_case_ref
from focalpoint.cases.stages import TERMINAL, Side, Stage

__all__ = ["TERMINAL", "Side", "Stage", "check_case_ref", "mint_case_ref"]

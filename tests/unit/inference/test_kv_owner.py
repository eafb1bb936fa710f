"""KV reuse per owner: a context keeps another owner's tokens only as far as a whole shared prefix."""

from __future__ import annotations

from services.inference.kv_cache import KVReuse
from services.inference.shared_prefix import shared_prefixes, with_system_prompt
from shared.schemas import ChatMessage
from tests.support.held_context import HeldContext

SHARED = [1, 2, 3, 4]


def reuse(held: list[int], owner: str = "alice") -> tuple[KVReuse, HeldContext]:
    llm = HeldContext(held)
    kv = KVReuse(llm, None, [SHARED])  # type: ignore[arg-type]
    kv.owner = owner
    return kv, llm


def test_the_same_owner_reuses_its_whole_prompt_but_the_last_two_tokens() -> None:
    # The last two are evaluated together, never the last one alone (it would round otherwise).
    kv, llm = reuse([1, 2, 3, 4, 50, 51, 52])
    kv.switch_owner("alice")
    assert kv.prepare([1, 2, 3, 4, 50, 51, 52, 60]) == 6
    assert llm.n_tokens == 6, "generate() must find only what is kept"
    kv, llm = reuse([1, 2, 3, 4, 50, 51, 52, 60, 70, 71])  # the same prompt again, and its answer
    assert kv.prepare([1, 2, 3, 4, 50, 51, 52, 60]) == 6 and llm.n_tokens == 6
    kv, llm = reuse([1, 2, 3, 4, 50])
    assert kv.prepare([1, 2, 3, 4, 50, 51, 52, 60, 61]) == 5 and llm.n_tokens == 5


def test_another_owner_reuses_only_the_shared_prefix_even_when_its_guess_is_right() -> None:
    kv, _ = reuse([1, 2, 3, 4, 50, 51, 52])
    kv.switch_owner("bob")
    assert kv.prepare([1, 2, 3, 4, 50, 51, 52, 60]) == 4, "a right guess of alice's prompt must not show"
    kv, _ = reuse([1, 2, 3, 4, 50, 51, 52])
    kv.switch_owner("bob")
    assert kv.prepare([1, 2, 3, 4, 77, 78, 79, 60]) == 4, "a wrong guess looks the same"


class EvaluatingContext(HeldContext):
    """Also records what `eval` is given, as a resumed job's replay calls it."""

    def __init__(self, tokens: list[int]) -> None:
        super().__init__(tokens)
        self.evaluated: list[list[int]] = []

    def eval(self, tokens: list[int]) -> None:
        self.evaluated.append(list(tokens))
        self.input_ids[self.n_tokens : self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)


def test_a_resumed_jobs_replay_reuses_another_owners_tokens_only_as_far_as_the_shared_prefix() -> None:
    llm = EvaluatingContext([1, 2, 3, 4, 50, 51])  # bob's job ran last
    kv = KVReuse(llm, None, [SHARED])  # type: ignore[arg-type]
    kv.owner = "bob"
    kv.switch_owner("alice")
    assert kv.replay([1, 2, 3, 4, 50, 51, 52], [[60], [61]]) == 4
    assert llm.evaluated == [[50, 51, 52], [60], [61]], "alice's prompt is evaluated again past the shared prefix"
    llm = EvaluatingContext([1, 2, 3, 4, 50, 51])
    kv = KVReuse(llm, None, [SHARED])  # type: ignore[arg-type]
    kv.owner = "alice"
    kv.switch_owner("alice")
    assert kv.replay([1, 2, 3, 4, 50, 51, 52], [[60], [61]]) == 6
    assert llm.evaluated == [[52], [60], [61]]


def test_a_shared_prefix_held_only_in_part_is_not_reused() -> None:
    # How far alice's own system prompt agreed with the shared one would show in bob's count.
    kv, _ = reuse([1, 2, 3, 9, 9])
    kv.switch_owner("bob")
    assert kv.prepare([1, 2, 3, 4, 5]) == 0


def test_saved_states_are_per_owner() -> None:
    kv, _ = reuse([])
    alice = kv.scope
    kv.switch_owner("bob")
    assert kv.scope != alice
    kv.switch("sql@1")
    assert kv.scope not in (alice, "")


def test_the_operators_system_prompt_goes_first_unless_the_job_has_its_own() -> None:
    user = ChatMessage(role="user", content="hi")
    own = ChatMessage(role="system", content="Be brief.")
    assert with_system_prompt([user], "House rules.") == [ChatMessage(role="system", content="House rules."), user]
    assert with_system_prompt([own, user], "House rules.") == [own, user]
    assert with_system_prompt([user], None) == [user]


def test_shared_prefixes_stop_where_a_users_text_begins() -> None:
    def render(messages: list[ChatMessage]) -> list[int]:
        text = "".join(f"<{m.role}>{m.content}</>" for m in messages)
        return [ord(c) for c in f"<s>{text}<assistant>"]

    prefixes = {"".join(map(chr, p)) for p in shared_prefixes(render, "House rules.")}  # type: ignore[arg-type]
    assert prefixes == {"<s><user>", "<s><system>House rules.</><user>"}

"""A legal research assistant whose conversations Engram keeps: two attorneys, one conversation id.

Attorneys Smith and Jones both talk to the assistant "henry" in a conversation they each call
"case-research". The scope (here, the attorney) keeps the two histories apart: each window holds
only that attorney's messages. A long research session then shows the active window's limits:
the newest 100 messages or ~8,000 tokens, whichever is reached first, oldest out first, the
system prompt always in; the full history stays stored.

Run it against a local server:

    make run                                                                # one terminal
    ENGRAM_API_KEY=$(cat data/admin.key) python examples/legal_assistant.py      # another

ENGRAM_ADDR (default 127.0.0.1:9100) and ENGRAM_API_KEY are read by Engram().
"""

import uuid

from engram import Engram, NotFoundError

SYSTEM = {"role": "system", "content": "You are Henry, a legal research assistant."}


def main():
    henry = f"henry-{uuid.uuid4().hex[:8]}"  # the assistant (an Engram agent), unique per run
    conv = "case-research"                   # the id both attorneys use
    with Engram() as engram:
        chats = engram.conversations
        chats.append(henry, conv, [SYSTEM,
                                   ("user", "I am working on Smith v. Johnson, a contract dispute."),
                                   ("assistant", "Noted: Smith v. Johnson, a contract dispute.")],
                     scope="attorney-smith")
        chats.append(henry, conv, [SYSTEM,
                                   ("user", "I am working on Davis v. Brown, a negligence case."),
                                   ("assistant", "Noted: Davis v. Brown, a negligence case.")],
                     scope="attorney-jones")

        # "What case am I working on?" -- each attorney's window is that attorney's history only.
        for attorney, case, other in [("attorney-smith", "Smith v. Johnson", "Davis v. Brown"),
                                      ("attorney-jones", "Davis v. Brown", "Smith v. Johnson")]:
            window = chats.window(henry, conv, scope=attorney)
            text = " ".join(m.content for m in window)
            print(f"{attorney}: {len(window)} messages, mentions {case}: {case in text}, "
                  f"mentions {other}: {other in text}")
            assert len(window) == 3 and case in text and other not in text
        listed = sorted(c.scope for c in chats.list(henry))
        print(f"conversations named {conv!r}: {len(listed)} ({', '.join(listed)})")
        assert listed == ["attorney-jones", "attorney-smith"]

        # Another agent serving the same attorney has no such conversation at all.
        try:
            chats.window(f"sarah-{uuid.uuid4().hex[:8]}", conv, scope="attorney-smith")
            raise AssertionError("another agent saw henry's conversation")
        except NotFoundError:
            print("drafting agent sarah: no conversation 'case-research' for attorney-smith")

        # A long session for Smith: 120 short turns. The window keeps the newest 100 messages
        # (the system prompt pinned among them); the oldest turns fall out first.
        turns = []
        for i in range(1, 61):
            turns += [("user", f"Question {i}: is clause {i} of the Smith contract enforceable?"),
                      ("assistant", f"Answer {i}: clause {i} is enforceable.")]
        chats.append(henry, conv, turns, scope="attorney-smith")
        window = chats.window(henry, conv, scope="attorney-smith")
        total = window.conversation.message_count
        print(f"attorney-smith: {total} messages stored, window {len(window)} messages / {window.token_count} "
              f"tokens (limits {window.max_messages} / {window.max_tokens}), {window.omitted_messages} left out")
        assert (total, window.max_messages, window.max_tokens) == (123, 100, 8000)
        assert len(window) == 100 and window.omitted_messages == 23 and window.token_count <= 8000
        assert window[0].role == "system" and window[-1].content.startswith("Answer 60:")
        # Out: the 23 oldest after the system prompt (the first exchange, turns 1-10, Question 11).
        assert window[1].content.startswith("Answer 11:")

        # Jones pastes long excerpts: the ~8,000 token limit is reached long before 100 messages.
        excerpt = "The duty of care requires a reasonable person to foresee the harm. " * 60
        chats.append(henry, conv, [("user", f"Excerpt {i}: {excerpt}") for i in range(1, 21)],
                     scope="attorney-jones")
        window = chats.window(henry, conv, scope="attorney-jones")
        print(f"attorney-jones: {window.conversation.message_count} messages stored, window "
              f"{len(window)} messages / {window.token_count} tokens, {window.omitted_messages} left out")
        assert len(window) < 100 and window.token_count <= 8000 and window.omitted_messages > 0
        assert window.token_count + window[-1].tokens > 8000  # one more excerpt would not fit
        assert window[0].role == "system" and window[-1].content.startswith("Excerpt 20:")

        # A call can ask for a smaller window; as_openai() is ready for a chat-completions call.
        prompt = chats.window(henry, conv, scope="attorney-smith", max_messages=5).as_openai()
        print(f"prompt for the next model call: {[m['role'] for m in prompt]}")
        assert [m["role"] for m in prompt] == ["system", "user", "assistant", "user", "assistant"]
        assert prompt[-1]["content"] == "Answer 60: clause 60 is enforceable."


if __name__ == "__main__":
    main()

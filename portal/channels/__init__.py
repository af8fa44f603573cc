"""Chat-app channels (WeCom, DingTalk and Feishu group robots) and the outbox of alert messages
(chat and e-mail) sent after the commit, held through quiet hours and retried with backoff."""

"""The commented starter file that ``zalogate config init`` writes."""

from __future__ import annotations

__all__ = ["STARTER_CONFIG"]

STARTER_CONFIG = """\
// zalogate configuration (JSON5: comments and trailing commas are fine).
// Reference: docs/configuration.md. Check it with `zalogate config validate`.
// `${VAR}` is replaced by the environment variable VAR (a missing one is an error);
// write `$${VAR}` for a literal `${VAR}`.
{
  gateway: {
    host: "127.0.0.1", // keep it on loopback unless a reverse proxy sits in front
    port: 18789,
    logLevel: "info", // debug | info | warning | error | critical
    // stateDir: "~/.zalogate", // database, logs, credentials (default: $ZALOGATE_STATE_DIR)
  },

  // Who answers: "echo" (repeats every message; for trying things out), "openai" (any
  // OpenAI-compatible server: OpenAI, Ollama, vLLM, LM Studio) or "command" (your program).
  agent: {
    type: "echo",
    openai: {
      model: "gpt-4o-mini",
      // baseUrl: "http://127.0.0.1:11434/v1", // e.g. Ollama
      // apiKey: "${OPENAI_API_KEY}",
      // systemPrompt: "You are a helpful assistant on Zalo.",
    },
    // command: { argv: ["python", "my_bot.py"], timeoutSeconds: 60 },
  },

  session: {
    dmScope: "main", // main | per-peer | per-channel-peer | per-account-channel-peer
  },

  channels: {
    defaults: {
      // What a channel's unset groupPolicy means (open | allowlist | disabled). Left out
      // everywhere it is "open" and `zalogate doctor` warns; this file starts safe.
      groupPolicy: "allowlist",
    },

    // Official Zalo Bot API (create a bot at https://bot.zaloplatforms.com).
    zalo: {
      enabled: false, // set to true once a token is configured
      // botToken: "${ZALO_BOT_TOKEN}", // or tokenFile: "~/.zalogate/zalo.token"
      dmPolicy: "pairing", // pairing | allowlist | open (needs "*" in allowFrom) | disabled
      allowFrom: [],
      // Webhook mode instead of long polling (the URL must be https):
      // webhookUrl: "https://bot.example.com/zalo-webhook",
      // webhookSecret: "${ZALO_WEBHOOK_SECRET}", // 8-256 characters
      // Several bots: top-level keys are defaults that accounts.<id> override.
      // accounts: { work: { botToken: "${ZALO_WORK_TOKEN}" } },
      // defaultAccount: "work",
    },

    // A personal Zalo account (unofficial).
    // Log in with `zalogate channels login --channel zalouser`.
    zalouser: {
      enabled: false,
      dmPolicy: "pairing",
      allowFrom: [],
      groupPolicy: "allowlist",
      groups: {
        // "1234567890": { requireMention: true },
        // "*": { requireMention: true },
      },
      historyLimit: 50, // pending group messages remembered while waiting for a mention
    },
  },
}
"""

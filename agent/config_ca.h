// Internal to keyhold_agent_config: the CA's part of the config file —
// [[ca]] tables, [policy.NAME] name policies and [profile.NAME]
// certificate profiles (docs/configuration.md, "The CA").
#ifndef KEYHOLD_AGENT_CONFIG_CA_H_
#define KEYHOLD_AGENT_CONFIG_CA_H_

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "agent/config.h"
#include "agent/config_reader.h"

namespace keyhold::agent {

// Reads root's "ca", "policy" and "profile" entries into `config`,
// reporting every problem to `in`; checks that each CA names a known
// policy and known profiles.
void ParseCaSections(const toml::table& root, ConfigReader& in, Config& config);

// "ca.label", ..., "policy.NAME.match", ..., "profile.NAME.base", ...
std::vector<std::string> KnownCaConfigKeys();

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_CONFIG_CA_H_

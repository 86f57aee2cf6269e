// Internal to keyhold_agent_config: [tls_profile.NAME] tables and the
// "host:port" target patterns of [[key]] targets (docs/configuration.md,
// "TLS").
#ifndef KEYHOLD_AGENT_CONFIG_TLS_H_
#define KEYHOLD_AGENT_CONFIG_TLS_H_

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "agent/config.h"
#include "agent/config_reader.h"

namespace keyhold::agent {

void ParseTlsProfiles(const toml::table& root, ConfigReader& in, Config& config);

// "tls_profile.NAME.ca_file", ...
std::vector<std::string> KnownTlsConfigKeys();

}  // namespace keyhold::agent

#endif  // KEYHOLD_AGENT_CONFIG_TLS_H_

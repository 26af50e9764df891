#include "mupgrade/docker/docker_engine.hpp"

#include "../http/curl_easy.hpp"
#include "engine_detail.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <thread>
#include <unistd.h>

namespace mupgrade::docker {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

int compare_api_versions(std::string_view a, std::string_view b) {
  auto split = [](std::string_view v) {
    auto dot = v.find('.');
    int major = std::atoi(std::string(v.substr(0, dot)).c_str());
    int minor = dot == std::string_view::npos ? 0 : std::atoi(std::string(v.substr(dot + 1)).c_str());
    return std::pair{major, minor};
  };
  auto pa = split(a), pb = split(b);
  return pa < pb ? -1 : (pa == pb ? 0 : 1);
}

namespace {

// Why a label cannot be used, or "" when it can.
std::string label_problem(const std::string& key, const std::string& value) {
  if (key.empty()) return fmt::format("a label with an empty key (value '{}')", value);
  if (key.find('=') != std::string::npos) return fmt::format("label '{}': a key cannot hold '='", key);
  if (value.empty()) return fmt::format("label '{}' with an empty value", key);
  return {};
}

}  // namespace

std::string label_filters(const std::map<std::string, std::string>& labels) {
  if (labels.empty())
    throw Error("refusing to filter Docker objects by no label at all: it would select every object on the host",
                "name the labels (mupgrade.site=<site>, ...) that select the objects meant");
  json filter = json::array();
  for (const auto& [k, v] : labels) {
    if (std::string problem = label_problem(k, v); !problem.empty())
      throw Error(fmt::format("refusing to filter Docker objects by {}: Docker would read it as 'any value' and "
                              "select objects of every site",
                              problem),
                  "this is a bug in the caller: the site, set or role it filters by is empty");
    filter.push_back(k + "=" + v);
  }
  return json{{"label", filter}}.dump();
}

void check_labels(const std::map<std::string, std::string>& labels, const std::string& object) {
  for (const auto& [k, v] : labels)
    if (std::string problem = label_problem(k, v); !problem.empty())
      throw Error(fmt::format("refusing to create {} with {}", object, problem),
                  "this is a bug in the caller: the site, set or role it labels with is empty");
}

namespace {

size_t on_data(char* data, size_t size, size_t n, void* user) {
  (*static_cast<std::function<void(std::string_view)>*>(user))(std::string_view(data, size * n));
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon), value = line.substr(colon + 1);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    (*static_cast<std::map<std::string, std::string>*>(user))[name] = value;
  }
  return size * n;
}

ContainerInfo to_info(const json& j) {
  ContainerInfo c;
  c.id = j.value("Id", "");
  c.name = j.value("Name", "");
  if (!c.name.empty() && c.name[0] == '/') c.name.erase(0, 1);
  c.image = j.contains("Config") ? j["Config"].value("Image", "") : "";
  const json& st = j.contains("State") ? j["State"] : json::object();
  c.running = st.value("Running", false);
  c.status = st.value("Status", "");
  c.exit_code = st.value("ExitCode", 0);
  c.pid = st.value("Pid", 0);
  if (j.contains("Config") && j["Config"].contains("Labels") && j["Config"]["Labels"].is_object())
    c.labels = j["Config"]["Labels"].get<std::map<std::string, std::string>>();
  if (j.contains("NetworkSettings")) {
    const json& ns = j["NetworkSettings"];
    if (ns.contains("Networks") && ns["Networks"].is_object())
      for (auto& [net, ep] : ns["Networks"].items()) {
        c.network_ips[net] = ep.value("IPAddress", "");
        if (ep.contains("Aliases") && ep["Aliases"].is_array())
          for (const auto& a : ep["Aliases"])
            if (a.is_string()) c.aliases.push_back(a.get<std::string>());
        if (ep.contains("DNSNames") && ep["DNSNames"].is_array())
          for (const auto& a : ep["DNSNames"])
            if (a.is_string()) c.aliases.push_back(a.get<std::string>());
      }
    if (ns.contains("Ports") && ns["Ports"].is_object())
      for (auto& [port, bindings] : ns["Ports"].items()) {
        if (!bindings.is_array() || bindings.empty()) continue;
        int p = std::atoi(port.c_str());
        for (const auto& b : bindings) {
          int host_port = std::atoi(b.value("HostPort", "0").c_str());
          std::string ip = b.value("HostIp", "");
          c.any_host_ports.emplace(p, host_port);
          if (ip == "127.0.0.1" || ip == "::1" || !c.host_ports.count(p)) c.host_ports[p] = host_port;
        }
      }
  }
  if (j.contains("Mounts") && j["Mounts"].is_array())
    for (const auto& m : j["Mounts"])
      c.mounts.push_back({m.value("Type", ""), m.value("Name", ""), m.value("Source", ""), m.value("Destination", ""), !m.value("RW", true)});
  if (j.contains("Config") && j["Config"].contains("Env") && j["Config"]["Env"].is_array())
    for (const auto& e : j["Config"]["Env"]) {
      if (!e.is_string()) continue;
      std::string kv = e.get<std::string>();
      auto eq = kv.find('=');
      if (eq != std::string::npos) c.env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  return c;
}

}  // namespace

std::string url_escape(const std::string& s) {
  http::CurlEasy curl;
  char* out = curl_easy_escape(curl.get(), s.c_str(), static_cast<int>(s.size()));
  std::string r = out ? out : "";
  curl_free(out);
  return r;
}

DockerEngine::DockerEngine(std::string socket_path) : socket_(std::move(socket_path)) {}

DockerEngine::Reply DockerEngine::call(const std::string& method, const std::string& path, const json* body,
                                       std::chrono::milliseconds timeout, ChunkFn on_chunk, bool versioned) {
  if (versioned && api_version_.empty()) negotiate();
  http::CurlEasy curl;
  Reply r;
  std::string payload = body ? body->dump() : std::string{};
  std::string url = "http://docker" + (versioned ? "/v" + api_version_ : std::string{}) + path;
  ChunkFn sink = on_chunk ? on_chunk : [&r](std::string_view d) { r.body.append(d); };
  curl_easy_setopt(curl.get(), CURLOPT_UNIX_SOCKET_PATH, socket_.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  if (body) {
    curl.add_header("Content-Type: application/json");
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  } else if (method == "POST") {
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, 0L);
  }
  if (method == "HEAD") curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);  // else curl waits for a body
  curl.apply_headers();
  if (timeout.count() > 0) curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &r.headers);
  CURLcode rc = curl_easy_perform(curl.get());
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &r.status);
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    r.status = -1;  // the caller decides what a timeout means
    return r;
  }
  if (rc != CURLE_OK) {
    throw DockerError(fmt::format("cannot reach the Docker daemon at {} ({})", socket_, curl_easy_strerror(rc)), 0,
                      "start it ('scripts/setup' does) or point --docker-socket at the right socket");
  }
  return r;
}

void DockerEngine::fail(const std::string& method, const std::string& path, const Reply& r) {
  std::string message = r.body;
  try {
    message = json::parse(r.body).value("message", r.body);
  } catch (const json::exception&) {
  }
  while (!message.empty() && message.back() == '\n') message.pop_back();
  if (r.status == -1) throw DockerError(fmt::format("docker: {} {} timed out", method, path), 0);
  throw DockerError(fmt::format("docker: {} {} failed with HTTP {}: {}", method, path, r.status, message), r.status);
}

DockerEngine::Reply DockerEngine::expect(const std::string& method, const std::string& path,
                                         std::initializer_list<long> ok, const json* body,
                                         std::chrono::milliseconds timeout) {
  Reply r = call(method, path, body, timeout);
  for (long s : ok)
    if (r.status == s) return r;
  fail(method, path, r);
}

EngineVersion DockerEngine::negotiate() {
  Reply ping = call("GET", "/_ping", nullptr, std::chrono::milliseconds(5000), {}, false);
  if (ping.status != 200) fail("GET", "/_ping", ping);
  std::string server_api = ping.headers.count("api-version") ? ping.headers["api-version"] : std::string(kMinApiVersion);
  if (compare_api_versions(server_api, kMinApiVersion) < 0)
    throw DockerError(fmt::format("the Docker daemon speaks API {}, mupgrade needs {} or later", server_api, kMinApiVersion),
                      0, "upgrade Docker (Debian 12's docker.io is recent enough)");
  api_version_ = compare_api_versions(server_api, kMaxApiVersion) > 0 ? std::string(kMaxApiVersion) : server_api;
  Reply ver = expect("GET", "/version", {200});
  return {json::parse(ver.body).value("Version", "?"), api_version_};
}

std::optional<json> DockerEngine::inspect_image(const std::string& ref) {
  Reply r = call("GET", "/images/" + url_escape(ref) + "/json");
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) fail("GET", "/images/" + ref + "/json", r);
  return json::parse(r.body);
}

std::string DockerEngine::create_container(const ContainerSpec& spec) {
  check_labels(spec.labels, "container " + spec.name);
  json env = json::array();
  for (auto& [k, v] : spec.env) env.push_back(k + "=" + v);
  json binds = json::array();
  for (auto& m : spec.mounts) binds.push_back(m.host_path + ":" + m.container_path + (m.read_only ? ":ro" : ""));
  json exposed = json::object(), port_bindings = json::object();
  for (auto& p : spec.ports) {
    if (p.host_ip != "127.0.0.1" && p.host_ip != "::1")
      throw Error(fmt::format("refusing to publish port {} of {} on {}", p.container_port, spec.name, p.host_ip),
                  "mupgrade publishes container ports on 127.0.0.1 only");
    std::string key = std::to_string(p.container_port) + "/tcp";
    exposed[key] = json::object();
    port_bindings[key] = json::array({{{"HostIp", p.host_ip}, {"HostPort", p.host_port ? std::to_string(p.host_port) : ""}}});
  }
  json host_config = {{"Binds", binds}, {"PortBindings", port_bindings}};
  if (!spec.network.empty()) host_config["NetworkMode"] = spec.network;
  json body = {{"Image", spec.image}, {"Env", env}, {"Labels", spec.labels}, {"ExposedPorts", exposed},
               {"HostConfig", host_config}};
  if (!spec.cmd.empty()) body["Cmd"] = spec.cmd;
  if (!spec.entrypoint.empty()) body["Entrypoint"] = spec.entrypoint;
  if (!spec.stop_signal.empty()) body["StopSignal"] = spec.stop_signal;
  if (spec.stop_timeout_s) body["StopTimeout"] = *spec.stop_timeout_s;
  if (!spec.network.empty() && !spec.network_aliases.empty())
    body["NetworkingConfig"] = {{"EndpointsConfig", {{spec.network, {{"Aliases", spec.network_aliases}}}}}};
  Reply r = expect("POST", "/containers/create?name=" + url_escape(spec.name), {201}, &body);
  return json::parse(r.body).at("Id").get<std::string>();
}

void DockerEngine::start_container(const std::string& id) { expect("POST", "/containers/" + id + "/start", {204, 304}); }

void DockerEngine::stop_container(const std::string& id, std::chrono::seconds grace) {
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(grace) + kApiTimeout;
  expect("POST", fmt::format("/containers/{}/stop?t={}", id, grace.count()), {204, 304}, nullptr, timeout);
}

void DockerEngine::kill_container(const std::string& id, const std::string& signal) {
  expect("POST", "/containers/" + id + "/kill?signal=" + url_escape(signal), {204});
}

void DockerEngine::remove_container(const std::string& id, bool force) {
  Reply r = call("DELETE", "/containers/" + id + (force ? "?force=1" : ""));
  if (r.status == 409 && r.body.find("already in progress") != std::string::npos) {
    // A removal asked by a process that was killed goes on in the daemon: wait for it to end.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (!inspect_container(id)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  if (r.status != 204 && r.status != 404) fail("DELETE", "/containers/" + id, r);
}

std::optional<ContainerInfo> DockerEngine::inspect_container(const std::string& id) {
  Reply r = call("GET", "/containers/" + url_escape(id) + "/json");
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) fail("GET", "/containers/" + id + "/json", r);
  return to_info(json::parse(r.body));
}

std::vector<ContainerInfo> DockerEngine::list_containers(const std::map<std::string, std::string>& labels, bool all) {
  std::string path = fmt::format("/containers/json?all={}&filters={}", all ? 1 : 0, url_escape(label_filters(labels)));
  Reply r = expect("GET", path, {200});
  std::vector<ContainerInfo> out;
  for (const json& c : json::parse(r.body)) {
    // The list form is thinner than inspect; inspect each for one consistent shape.
    if (auto info = inspect_container(c.at("Id").get<std::string>())) out.push_back(*info);
  }
  return out;
}

int DockerEngine::wait_container(const std::string& id, std::chrono::milliseconds timeout) {
  Reply r = expect("POST", "/containers/" + id + "/wait", {200}, nullptr, timeout);
  return json::parse(r.body).value("StatusCode", -1);
}

std::string DockerEngine::logs(const std::string& id, int tail_lines) {
  StreamDemux demux;
  Reply r = call("GET", fmt::format("/containers/{}/logs?stdout=1&stderr=1&tail={}", id, tail_lines), nullptr,
                 kApiTimeout, [&](std::string_view d) { demux.feed(d); });
  if (r.status != 200) fail("GET", "/containers/" + id + "/logs", r);
  return demux.out() + demux.err();
}

ExecResult DockerEngine::exec(const std::string& container, const ExecOptions& opts) {
  json create = {{"AttachStdout", true}, {"AttachStderr", true}, {"Tty", false}, {"Cmd", opts.cmd}};
  if (!opts.user.empty()) create["User"] = opts.user;
  if (!opts.workdir.empty()) create["WorkingDir"] = opts.workdir;
  if (!opts.env.empty()) create["Env"] = opts.env;
  Reply created = expect("POST", "/containers/" + container + "/exec", {201}, &create);
  std::string exec_id = json::parse(created.body).at("Id").get<std::string>();

  auto started = Clock::now();
  StreamDemux demux(opts.on_line);
  json start = {{"Detach", false}, {"Tty", false}};
  Reply r = call("POST", "/exec/" + exec_id + "/start", &start, opts.timeout,
                 [&](std::string_view d) { demux.feed(d); });
  demux.finish();
  ExecResult result;
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  result.out = demux.out();
  result.err = demux.err();
  if (r.status == -1) {
    // The Engine API cannot kill an exec; its host PID can be signalled directly.
    Reply info = expect("GET", "/exec/" + exec_id + "/json", {200});
    int pid = json::parse(info.body).value("Pid", 0);
    if (pid > 0) ::kill(pid, SIGKILL);
    result.timed_out = true;
    return result;
  }
  if (r.status != 200) fail("POST", "/exec/" + exec_id + "/start", r);
  // The stream ends when the process exits; ExitCode may lag by a moment.
  for (int i = 0; i < 100; ++i) {
    json info = json::parse(expect("GET", "/exec/" + exec_id + "/json", {200}).body);
    if (!info.value("Running", false) && info["ExitCode"].is_number()) {
      result.exit_code = info["ExitCode"].get<int>();
      break;
    }
    ::usleep(10000);
  }
  return result;
}

std::string DockerEngine::create_network(const std::string& name, const std::map<std::string, std::string>& labels,
                                         bool internal) {
  check_labels(labels, "network " + name);
  json body = {{"Name", name}, {"Labels", labels}, {"Internal", internal}, {"CheckDuplicate", true}};
  Reply r = expect("POST", "/networks/create", {201}, &body);
  return json::parse(r.body).at("Id").get<std::string>();
}

void DockerEngine::connect_network(const std::string& network, const std::string& container,
                                   const std::vector<std::string>& aliases) {
  json body = {{"Container", container}};
  if (!aliases.empty()) body["EndpointConfig"] = {{"Aliases", aliases}};
  expect("POST", "/networks/" + url_escape(network) + "/connect", {200}, &body);
}

void DockerEngine::disconnect_network(const std::string& network, const std::string& container) {
  json body = {{"Container", container}, {"Force", true}};
  Reply r = call("POST", "/networks/" + url_escape(network) + "/disconnect", &body);
  // 404: no such network or container; 500 "is not connected": already detached.
  if (r.status == 200 || r.status == 404 || (r.status == 500 && r.body.find("not connected") != std::string::npos)) return;
  fail("POST", "/networks/" + network + "/disconnect", r);
}

void DockerEngine::remove_network(const std::string& name_or_id) {
  Reply r = call("DELETE", "/networks/" + url_escape(name_or_id));
  if (r.status != 204 && r.status != 404) fail("DELETE", "/networks/" + name_or_id, r);
}

std::vector<NetworkInfo> DockerEngine::list_networks(const std::map<std::string, std::string>& labels) {
  Reply r = expect("GET", "/networks?filters=" + url_escape(label_filters(labels)), {200});
  std::vector<NetworkInfo> out;
  for (const json& n : json::parse(r.body)) {
    NetworkInfo info;
    info.id = n.value("Id", "");
    info.name = n.value("Name", "");
    info.internal = n.value("Internal", false);
    if (n.contains("Labels") && n["Labels"].is_object()) info.labels = n["Labels"].get<std::map<std::string, std::string>>();
    out.push_back(std::move(info));
  }
  return out;
}

std::optional<json> DockerEngine::inspect_network(const std::string& name_or_id) {
  Reply r = call("GET", "/networks/" + url_escape(name_or_id));
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) fail("GET", "/networks/" + name_or_id, r);
  return json::parse(r.body);
}

}  // namespace mupgrade::docker

namespace mupgrade::docker {

std::optional<ports::ImageInfo> DockerEngine::image(const std::string& ref) {
  auto j = inspect_image(ref);
  if (!j) return std::nullopt;
  ports::ImageInfo info;
  info.id = j->value("Id", "");
  if (j->contains("Config") && (*j)["Config"].is_object() && (*j)["Config"].contains("Labels") && (*j)["Config"]["Labels"].is_object())
    for (auto& [k, v] : (*j)["Config"]["Labels"].items())
      if (v.is_string()) info.labels[k] = v.get<std::string>();
  return info;
}

std::optional<ports::NetworkInfo> DockerEngine::network(const std::string& name_or_id) {
  auto j = inspect_network(name_or_id);
  if (!j) return std::nullopt;
  ports::NetworkInfo info;
  info.id = j->value("Id", "");
  info.name = j->value("Name", "");
  info.internal = j->value("Internal", false);
  if (j->contains("Labels") && (*j)["Labels"].is_object())
    for (auto& [k, v] : (*j)["Labels"].items())
      if (v.is_string()) info.labels[k] = v.get<std::string>();
  return info;
}

}  // namespace mupgrade::docker

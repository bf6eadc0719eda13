#include "doppel/fmu/fmu.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>
#include <unzip.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace doppel::fmu {

namespace fs = std::filesystem;

const char* FmuKindName(FmuKind k) {
  return k == FmuKind::kModelExchange ? "model exchange" : "co-simulation";
}

// ---------------------------------------------------------------------------------------------
// Archive

namespace {

bool SafeEntryName(const std::string& name) {
  if (name.empty() || name[0] == '/' || name.find('\\') != std::string::npos) return false;
  for (const auto& part : fs::path(name))
    if (part == "..") return false;
  return true;
}

}  // namespace

Status ExtractZip(const std::string& zip_path, const std::string& dest_dir) {
  unzFile z = unzOpen64(zip_path.c_str());
  if (z == nullptr) return InvalidArgument(zip_path + ": not a readable zip archive");
  struct Closer {
    unzFile z;
    ~Closer() { unzClose(z); }
  } closer{z};
  std::error_code ec;
  fs::create_directories(dest_dir, ec);
  if (ec) return IOError(dest_dir + ": " + ec.message());
  constexpr uint64_t kMaxTotal = uint64_t{1} << 31;  // refuse zip bombs beyond 2 GiB
  uint64_t total = 0;
  std::vector<char> buf(1 << 16);
  for (int rc = unzGoToFirstFile(z); rc == UNZ_OK; rc = unzGoToNextFile(z)) {
    unz_file_info64 info;
    char name_buf[4096];
    if (unzGetCurrentFileInfo64(z, &info, name_buf, sizeof name_buf, nullptr, 0, nullptr, 0) != UNZ_OK)
      return Corruption(zip_path + ": unreadable zip entry");
    const std::string name = name_buf;
    if (!SafeEntryName(name)) return InvalidArgument(zip_path + ": unsafe entry name '" + name + "'");
    const fs::path out = fs::path(dest_dir) / name;
    if (name.back() == '/') {
      fs::create_directories(out, ec);
      if (ec) return IOError(out.string() + ": " + ec.message());
      continue;
    }
    fs::create_directories(out.parent_path(), ec);
    if (ec) return IOError(out.parent_path().string() + ": " + ec.message());
    if (unzOpenCurrentFile(z) != UNZ_OK) return Corruption(zip_path + ": cannot open entry '" + name + "'");
    std::ofstream f(out, std::ios::binary);
    int n = 0;
    while ((n = unzReadCurrentFile(z, buf.data(), static_cast<unsigned>(buf.size()))) > 0) {
      total += static_cast<uint64_t>(n);
      if (total > kMaxTotal) {
        unzCloseCurrentFile(z);
        return ResourceExhausted(zip_path + ": uncompressed size exceeds 2 GiB");
      }
      f.write(buf.data(), n);
    }
    const int close_rc = unzCloseCurrentFile(z);
    if (n < 0 || close_rc != UNZ_OK) return Corruption(zip_path + ": entry '" + name + "' is corrupt");
    if (!f) return IOError(out.string() + ": write failed");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Fmu

namespace {

Result<std::string> ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return NotFound(p.string() + ": cannot read");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

template <typename T>
Status Resolve(void* h, const char* sym, bool required, const std::string& lib, T** out) {
  *out = reinterpret_cast<T*>(dlsym(h, sym));
  if (*out == nullptr && required) return InvalidArgument(lib + ": does not export " + sym);
  return Status::Ok();
}

Status ResolveApi(void* h, FmuKind kind, const std::string& lib, Fmi2Api* a) {
  const bool me = kind == FmuKind::kModelExchange, cs = !me;
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2Instantiate", true, lib, &a->instantiate));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2FreeInstance", true, lib, &a->free_instance));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2SetupExperiment", true, lib, &a->setup_experiment));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2EnterInitializationMode", true, lib, &a->enter_initialization_mode));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2ExitInitializationMode", true, lib, &a->exit_initialization_mode));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2Terminate", true, lib, &a->terminate));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2GetReal", true, lib, &a->get_real));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2SetReal", true, lib, &a->set_real));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2GetInteger", true, lib, &a->get_integer));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2SetInteger", true, lib, &a->set_integer));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2GetBoolean", true, lib, &a->get_boolean));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2SetBoolean", true, lib, &a->set_boolean));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2EnterEventMode", me, lib, &a->enter_event_mode));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2NewDiscreteStates", me, lib, &a->new_discrete_states));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2EnterContinuousTimeMode", me, lib, &a->enter_continuous_time_mode));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2CompletedIntegratorStep", me, lib, &a->completed_integrator_step));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2SetTime", me, lib, &a->set_time));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2SetContinuousStates", me, lib, &a->set_continuous_states));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2GetDerivatives", me, lib, &a->get_derivatives));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2GetContinuousStates", me, lib, &a->get_continuous_states));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi2DoStep", cs, lib, &a->do_step));
  return Status::Ok();
}

Status ResolveApi3(void* h, FmuKind kind, const std::string& lib, Fmi3Api* a) {
  const bool me = kind == FmuKind::kModelExchange, cs = !me;
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3FreeInstance", true, lib, &a->free_instance));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3EnterInitializationMode", true, lib, &a->enter_initialization_mode));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3ExitInitializationMode", true, lib, &a->exit_initialization_mode));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3Terminate", true, lib, &a->terminate));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3GetFloat64", true, lib, &a->get_float64));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3SetFloat64", true, lib, &a->set_float64));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3GetInt32", true, lib, &a->get_int32));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3SetInt32", true, lib, &a->set_int32));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3GetInt64", true, lib, &a->get_int64));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3SetInt64", true, lib, &a->set_int64));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3GetBoolean", true, lib, &a->get_boolean));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3SetBoolean", true, lib, &a->set_boolean));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3InstantiateModelExchange", me, lib, &a->instantiate_model_exchange));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3EnterEventMode", me, lib, &a->enter_event_mode));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3UpdateDiscreteStates", me, lib, &a->update_discrete_states));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3EnterContinuousTimeMode", me, lib, &a->enter_continuous_time_mode));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3SetTime", me, lib, &a->set_time));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3SetContinuousStates", me, lib, &a->set_continuous_states));
  DOPPEL_RETURN_IF_ERROR(
      Resolve(h, "fmi3GetContinuousStateDerivatives", me, lib, &a->get_continuous_state_derivatives));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3GetContinuousStates", me, lib, &a->get_continuous_states));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3InstantiateCoSimulation", cs, lib, &a->instantiate_co_simulation));
  DOPPEL_RETURN_IF_ERROR(Resolve(h, "fmi3DoStep", cs, lib, &a->do_step));
  return Status::Ok();
}

Result<std::string> MakeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/doppel-fmu-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return IOError("cannot create a temporary directory for the FMU");
  return tmpl;
}

}  // namespace

Result<std::shared_ptr<Fmu>> Fmu::Load(const std::string& path, const FmuLoadOptions& options) {
  std::shared_ptr<Fmu> fmu(new Fmu());
  fmu->path_ = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fmu->dir_ = path;
  } else {
    if (!fs::exists(path, ec)) return NotFound(path + ": no such file");
    if (options.extract_dir.empty()) {
      auto dir = MakeTempDir();
      if (!dir.ok()) return dir.status();
      fmu->dir_ = *dir;
      fmu->remove_dir_ = true;
    } else {
      fmu->dir_ = options.extract_dir;
    }
    DOPPEL_RETURN_IF_ERROR(ExtractZip(path, fmu->dir_));
  }
  auto xml = ReadFile(fs::path(fmu->dir_) / "modelDescription.xml");
  if (!xml.ok()) return NotFound(path + ": no modelDescription.xml in the FMU");
  auto md = ParseModelDescription(*xml, path + ":modelDescription.xml");
  if (!md.ok()) return md.status();
  fmu->md_ = std::move(md).value();
  const bool v3 = fmu->is_fmi3();

  const std::string platform = !options.platform.empty() ? options.platform : v3 ? "x86_64-linux" : "linux64";

  for (FmuKind kind : {FmuKind::kModelExchange, FmuKind::kCoSimulation}) {
    const auto& id = kind == FmuKind::kModelExchange ? fmu->md_.model_exchange_id : fmu->md_.co_simulation_id;
    if (!id) continue;
    const std::string rel = "binaries/" + platform + "/" + *id + ".so";
    const fs::path lib = fs::path(fmu->dir_) / rel;
    if (!fs::exists(lib, ec))
      return NotFound(path + ": " + rel + " is missing (the FMU has no binary for this platform)");
    // Both kinds may share one binary: dlopen reference-counts it.
    void* h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* err = dlerror();
      return InvalidArgument(path + ": cannot load " + rel + ": " + (err ? err : "dlopen failed"));
    }
    const int k = static_cast<int>(kind);
    fmu->handles_[k] = h;
    if (v3) {
      fmu->api3_[k] = std::make_unique<Fmi3Api>();
      DOPPEL_RETURN_IF_ERROR(ResolveApi3(h, kind, path + ": " + rel, fmu->api3_[k].get()));
      continue;
    }
    fmu->apis_[k] = std::make_unique<Fmi2Api>();
    DOPPEL_RETURN_IF_ERROR(ResolveApi(h, kind, path + ": " + rel, fmu->apis_[k].get()));
  }
  return fmu;
}

Fmu::~Fmu() {
  for (void*& h : handles_)
    if (h != nullptr) dlclose(h);
  if (remove_dir_) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

const Fmi2Api* Fmu::api(FmuKind k) const { return apis_[static_cast<int>(k)].get(); }

Result<const ScalarVariable*> Fmu::Variable(std::string_view name) const {
  if (const ScalarVariable* v = md_.Find(name)) return v;
  std::string known;
  for (const auto& v : md_.variables) known += (known.empty() ? "" : ", ") + v.name;
  return NotFound(path_ + ": no variable '" + std::string(name) + "' (the FMU declares: " + known + ")");
}

// ---------------------------------------------------------------------------------------------
// FmuInstance

namespace {

void LoggerCallback(fmi2ComponentEnvironment env, fmi2String, fmi2Status status, fmi2String category,
                    fmi2String message, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, message);
  std::vsnprintf(buf, sizeof buf, message ? message : "", ap);
  va_end(ap);
  static_cast<FmuInstance*>(env)->Log(status, category, buf);
}

void LogMessageCallback(fmi3InstanceEnvironment env, fmi3Status status, fmi3String category,
                        fmi3String message) {
  static_cast<FmuInstance*>(env)->Log(status, category, message ? message : "");
}

void* AllocateCallback(size_t n, size_t size) { return std::calloc(n, size); }
void FreeCallback(void* p) { std::free(p); }

}  // namespace

Result<std::unique_ptr<FmuInstance>> FmuInstance::Create(std::shared_ptr<const Fmu> fmu, FmuKind kind,
                                                         const std::string& instance_name) {
  if (!fmu->Supports(kind))
    return InvalidArgument(fmu->path() + ": the FMU does not provide " + FmuKindName(kind));
  std::unique_ptr<FmuInstance> inst(new FmuInstance());
  inst->fmu_ = std::move(fmu);
  inst->api_ = inst->fmu_->api(kind);
  inst->kind_ = kind;
  inst->name_ = instance_name;
  if (inst->fmu_->is_fmi3()) {
    // 3.0: the resources directory as an absolute native path with a trailing separator, or NULL
    // when the FMU has none.
    inst->api3_ = inst->fmu_->api3(kind);
    const fs::path resources = fs::absolute(inst->fmu_->directory()) / "resources";
    std::error_code ec;
    if (fs::is_directory(resources, ec)) inst->resources_ = resources.string() + "/";
    const char* resource_path = inst->resources_.empty() ? nullptr : inst->resources_.c_str();
    const char* token = inst->fmu_->description().guid.c_str();
    const char* call = "fmi3InstantiateModelExchange";
    if (kind == FmuKind::kModelExchange) {
      inst->c_ = inst->api3_->instantiate_model_exchange(instance_name.c_str(), token, resource_path,
                                                         /*visible=*/fmi3False, /*logging_on=*/fmi3False,
                                                         inst.get(), &LogMessageCallback);
    } else {
      call = "fmi3InstantiateCoSimulation";
      inst->c_ = inst->api3_->instantiate_co_simulation(
          instance_name.c_str(), token, resource_path, /*visible=*/fmi3False,
          /*logging_on=*/fmi3False,
          /*event_mode_used=*/fmi3False, /*early_return_allowed=*/fmi3False, nullptr, 0, inst.get(),
          &LogMessageCallback, nullptr);
    }
    if (inst->c_ == nullptr) {
      return InvalidArgument(inst->fmu_->path() + ": " + call + " failed for '" + instance_name + "'" +
                             (inst->last_log_.empty() ? "" : ": " + inst->last_log_));
    }
    return inst;
  }
  inst->resources_ = "file://" + (fs::absolute(inst->fmu_->directory()) / "resources").string();
  inst->callbacks_ =
      fmi2CallbackFunctions{&LoggerCallback, &AllocateCallback, &FreeCallback, nullptr, inst.get()};
  inst->c_ = inst->api_->instantiate(instance_name.c_str(),
                                     kind == FmuKind::kModelExchange ? fmi2ModelExchange : fmi2CoSimulation,
                                     inst->fmu_->description().guid.c_str(), inst->resources_.c_str(),
                                     &inst->callbacks_, fmi2False, fmi2False);
  if (inst->c_ == nullptr) {
    return InvalidArgument(inst->fmu_->path() + ": fmi2Instantiate failed for '" + instance_name + "'" +
                           (inst->last_log_.empty() ? "" : ": " + inst->last_log_));
  }
  return inst;
}

FmuInstance::~FmuInstance() {
  if (c_ == nullptr) return;
  if (api3_ != nullptr) {
    api3_->free_instance(c_);
  } else {
    api_->free_instance(c_);
  }
}

void FmuInstance::Log(int status, const char* category, const char* message) {
  last_log_ = std::string(category ? category : "") + ": " + message;
  if (status >= fmi2Error) spdlog::warn("fmu {} ({}): {}", name_, fmu_->path(), last_log_);
}

Status FmuInstance::Check(int s, const char* call) {
  if (s == fmi2OK || s == fmi2Warning) return Status::Ok();
  static const char* kNames[] = {"OK", "Warning", "Discard", "Error", "Fatal", "Pending"};
  const char* sn = (s >= fmi2OK && s <= fmi2Pending) ? kNames[s] : "unknown status";
  return Internal(std::string(call) + " returned " + (api3_ != nullptr ? "fmi3" : "fmi2") + sn +
                  " for instance '" + name_ + "' of " + fmu_->path() +
                  (last_log_.empty() ? "" : " (last log: " + last_log_ + ")"));
}

Status FmuInstance::SetupExperiment(double start_s, double tolerance, double stop_s) {
  if (api3_ != nullptr) {  // 3.0: passed to fmi3EnterInitializationMode
    start_s_ = start_s, tolerance_ = tolerance, stop_s_ = stop_s;
    return Status::Ok();
  }
  return Check(api_->setup_experiment(c_, tolerance > 0, tolerance, start_s, stop_s > 0, stop_s),
               "fmi2SetupExperiment");
}
Status FmuInstance::EnterInitializationMode() {
  if (api3_ != nullptr) {
    return Check(
        api3_->enter_initialization_mode(c_, tolerance_ > 0, tolerance_, start_s_, stop_s_ > 0, stop_s_),
        "fmi3EnterInitializationMode");
  }
  return Check(api_->enter_initialization_mode(c_), "fmi2EnterInitializationMode");
}
Status FmuInstance::ExitInitializationMode() {
  if (api3_ != nullptr) return Check(api3_->exit_initialization_mode(c_), "fmi3ExitInitializationMode");
  return Check(api_->exit_initialization_mode(c_), "fmi2ExitInitializationMode");
}

Status FmuInstance::GetReal(std::span<const fmi2ValueReference> vr, std::span<double> out) {
  if (vr.size() != out.size()) throw std::logic_error("FmuInstance::GetReal: size mismatch");
  if (vr.empty()) return Status::Ok();
  if (api3_ != nullptr)
    return Check(api3_->get_float64(c_, vr.data(), vr.size(), out.data(), out.size()), "fmi3GetFloat64");
  return Check(api_->get_real(c_, vr.data(), vr.size(), out.data()), "fmi2GetReal");
}

Status FmuInstance::SetReal(std::span<const fmi2ValueReference> vr, std::span<const double> values) {
  if (vr.size() != values.size()) throw std::logic_error("FmuInstance::SetReal: size mismatch");
  if (vr.empty()) return Status::Ok();
  if (api3_ != nullptr)
    return Check(api3_->set_float64(c_, vr.data(), vr.size(), values.data(), values.size()),
                 "fmi3SetFloat64");
  return Check(api_->set_real(c_, vr.data(), vr.size(), values.data()), "fmi2SetReal");
}

Result<double> FmuInstance::Get3(const ScalarVariable& v) {
  const fmi3ValueReference vr = v.value_reference;
  switch (v.type) {
    case VariableType::kReal: {
      double x = 0;
      DOPPEL_RETURN_IF_ERROR(Check(api3_->get_float64(c_, &vr, 1, &x, 1), "fmi3GetFloat64"));
      return x;
    }
    case VariableType::kInteger: {
      fmi3Int32 x = 0;
      DOPPEL_RETURN_IF_ERROR(Check(api3_->get_int32(c_, &vr, 1, &x, 1), "fmi3GetInt32"));
      return static_cast<double>(x);
    }
    case VariableType::kEnumeration: {
      fmi3Int64 x = 0;
      DOPPEL_RETURN_IF_ERROR(Check(api3_->get_int64(c_, &vr, 1, &x, 1), "fmi3GetInt64"));
      return static_cast<double>(x);
    }
    case VariableType::kBoolean: {
      fmi3Boolean x = fmi3False;
      DOPPEL_RETURN_IF_ERROR(Check(api3_->get_boolean(c_, &vr, 1, &x, 1), "fmi3GetBoolean"));
      return x ? 1.0 : 0.0;
    }
    case VariableType::kString:
    case VariableType::kOther: break;
  }
  return InvalidArgument(
      "variable '" + v.name + "' is a " + v.type_name +
      "; Doppel reads Float64, Int32, Enumeration and Boolean variables of an FMI 3.0 FMU");
}

Status FmuInstance::Set3(const ScalarVariable& v, double value) {
  const fmi3ValueReference vr = v.value_reference;
  switch (v.type) {
    case VariableType::kReal: return Check(api3_->set_float64(c_, &vr, 1, &value, 1), "fmi3SetFloat64");
    case VariableType::kInteger: {
      const fmi3Int32 x = static_cast<fmi3Int32>(value);
      return Check(api3_->set_int32(c_, &vr, 1, &x, 1), "fmi3SetInt32");
    }
    case VariableType::kEnumeration: {
      const fmi3Int64 x = static_cast<fmi3Int64>(value);
      return Check(api3_->set_int64(c_, &vr, 1, &x, 1), "fmi3SetInt64");
    }
    case VariableType::kBoolean: {
      const fmi3Boolean x = value != 0;
      return Check(api3_->set_boolean(c_, &vr, 1, &x, 1), "fmi3SetBoolean");
    }
    case VariableType::kString:
    case VariableType::kOther: break;
  }
  return InvalidArgument(
      "variable '" + v.name + "' is a " + v.type_name +
      "; Doppel writes Float64, Int32, Enumeration and Boolean variables of an FMI 3.0 FMU");
}

Result<double> FmuInstance::Get(const ScalarVariable& v) {
  if (api3_ != nullptr) return Get3(v);
  const fmi2ValueReference vr = v.value_reference;
  switch (v.type) {
    case VariableType::kReal: {
      double x = 0;
      DOPPEL_RETURN_IF_ERROR(Check(api_->get_real(c_, &vr, 1, &x), "fmi2GetReal"));
      return x;
    }
    case VariableType::kInteger:
    case VariableType::kEnumeration: {
      fmi2Integer x = 0;
      DOPPEL_RETURN_IF_ERROR(Check(api_->get_integer(c_, &vr, 1, &x), "fmi2GetInteger"));
      return static_cast<double>(x);
    }
    case VariableType::kBoolean: {
      fmi2Boolean x = 0;
      DOPPEL_RETURN_IF_ERROR(Check(api_->get_boolean(c_, &vr, 1, &x), "fmi2GetBoolean"));
      return x ? 1.0 : 0.0;
    }
    case VariableType::kString:
    case VariableType::kOther: break;
  }
  return InvalidArgument("variable '" + v.name + "' is a String; Doppel reads numeric variables only");
}

Status FmuInstance::Set(const ScalarVariable& v, double value) {
  if (api3_ != nullptr) return Set3(v, value);
  const fmi2ValueReference vr = v.value_reference;
  switch (v.type) {
    case VariableType::kReal: return Check(api_->set_real(c_, &vr, 1, &value), "fmi2SetReal");
    case VariableType::kInteger:
    case VariableType::kEnumeration: {
      const fmi2Integer x = static_cast<fmi2Integer>(value);
      return Check(api_->set_integer(c_, &vr, 1, &x), "fmi2SetInteger");
    }
    case VariableType::kBoolean: {
      const fmi2Boolean x = value != 0 ? fmi2True : fmi2False;
      return Check(api_->set_boolean(c_, &vr, 1, &x), "fmi2SetBoolean");
    }
    case VariableType::kString:
    case VariableType::kOther: break;
  }
  return InvalidArgument("variable '" + v.name + "' is a String; Doppel writes numeric variables only");
}

void FmuInstance::RequireKind(FmuKind k, const char* call) const {
  if (kind_ != k) {
    throw std::logic_error(std::string("FmuInstance::") + call + ": a " + FmuKindName(k) + " call on the " +
                           FmuKindName(kind_) + " instance '" + name_ + "'");
  }
}

Status FmuInstance::SetTime(double t_s) {
  RequireKind(FmuKind::kModelExchange, "SetTime");
  if (api3_ != nullptr) return Check(api3_->set_time(c_, t_s), "fmi3SetTime");
  return Check(api_->set_time(c_, t_s), "fmi2SetTime");
}
Status FmuInstance::SetContinuousStates(std::span<const double> x) {
  RequireKind(FmuKind::kModelExchange, "SetContinuousStates");
  if (api3_ != nullptr)
    return Check(api3_->set_continuous_states(c_, x.data(), x.size()), "fmi3SetContinuousStates");
  return Check(api_->set_continuous_states(c_, x.data(), x.size()), "fmi2SetContinuousStates");
}
Status FmuInstance::GetContinuousStates(std::span<double> x) {
  RequireKind(FmuKind::kModelExchange, "GetContinuousStates");
  if (api3_ != nullptr)
    return Check(api3_->get_continuous_states(c_, x.data(), x.size()), "fmi3GetContinuousStates");
  return Check(api_->get_continuous_states(c_, x.data(), x.size()), "fmi2GetContinuousStates");
}
Status FmuInstance::GetDerivatives(std::span<double> xdot) {
  RequireKind(FmuKind::kModelExchange, "GetDerivatives");
  if (api3_ != nullptr) {
    return Check(api3_->get_continuous_state_derivatives(c_, xdot.data(), xdot.size()),
                 "fmi3GetContinuousStateDerivatives");
  }
  return Check(api_->get_derivatives(c_, xdot.data(), xdot.size()), "fmi2GetDerivatives");
}
Status FmuInstance::EnterEventMode() {
  RequireKind(FmuKind::kModelExchange, "EnterEventMode");
  if (api3_ != nullptr) return Check(api3_->enter_event_mode(c_), "fmi3EnterEventMode");
  return Check(api_->enter_event_mode(c_), "fmi2EnterEventMode");
}
Status FmuInstance::NewDiscreteStates(fmi2EventInfo* info) {
  if (api3_ == nullptr) return Check(api_->new_discrete_states(c_, info), "fmi2NewDiscreteStates");
  fmi3Boolean update = fmi3False, terminate = fmi3False, nominals = fmi3False, values = fmi3False,
              next_defined = fmi3False;
  double next = 0;
  DOPPEL_RETURN_IF_ERROR(
      Check(api3_->update_discrete_states(c_, &update, &terminate, &nominals, &values, &next_defined, &next),
            "fmi3UpdateDiscreteStates"));
  *info = fmi2EventInfo{update, terminate, nominals, values, next_defined, next};
  return Status::Ok();
}
Status FmuInstance::UpdateDiscreteStates(fmi2EventInfo* info) {
  RequireKind(FmuKind::kModelExchange, "UpdateDiscreteStates");
  for (int i = 0; i < 100; ++i) {
    *info = fmi2EventInfo{};
    DOPPEL_RETURN_IF_ERROR(NewDiscreteStates(info));
    if (info->terminateSimulation)
      return FailedPrecondition("instance '" + name_ + "' of " + fmu_->path() + " asked to terminate");
    if (!info->newDiscreteStatesNeeded) return Status::Ok();
  }
  return Internal("instance '" + name_ + "': event iteration did not converge in 100 rounds");
}
Status FmuInstance::EnterContinuousTimeMode() {
  RequireKind(FmuKind::kModelExchange, "EnterContinuousTimeMode");
  if (api3_ != nullptr) return Check(api3_->enter_continuous_time_mode(c_), "fmi3EnterContinuousTimeMode");
  return Check(api_->enter_continuous_time_mode(c_), "fmi2EnterContinuousTimeMode");
}
Status FmuInstance::DoStep(double t_s, double h_s) {
  RequireKind(FmuKind::kCoSimulation, "DoStep");
  if (api3_ == nullptr) return Check(api_->do_step(c_, t_s, h_s, fmi2True), "fmi2DoStep");
  fmi3Boolean event = fmi3False, terminate = fmi3False, early = fmi3False;
  double last_t = t_s;
  DOPPEL_RETURN_IF_ERROR(
      Check(api3_->do_step(c_, t_s, h_s, fmi3True, &event, &terminate, &early, &last_t), "fmi3DoStep"));
  const std::string at =
      "fmi3DoStep at t = " + std::to_string(t_s) + " s: instance '" + name_ + "' of " + fmu_->path();
  if (terminate) return FailedPrecondition(at + " asked to terminate the simulation");
  if (early) return Internal(at + " returned early at " + std::to_string(last_t) + " s (not allowed)");
  // Without event mode the FMU handles its events inside the step; the flag is only information.
  (void)event;
  return Status::Ok();
}

}  // namespace doppel::fmu

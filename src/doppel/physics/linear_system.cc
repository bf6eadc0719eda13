#include "doppel/physics/linear_system.h"

#include <memory>

namespace doppel::physics {

Status LinearSystemSpec::Validate() const {
  const auto n = A.rows();
  if (A.cols() != n) return InvalidArgument("linear system: A must be square");
  if (B.size() > 0 && B.rows() != n) return InvalidArgument("linear system: B must have A's rows");
  if (C.cols() != n) return InvalidArgument("linear system: C must have A's columns");
  if (D.size() > 0 && (D.rows() != C.rows() || D.cols() != B.cols())) {
    return InvalidArgument("linear system: D must be (rows of C) x (columns of B)");
  }
  auto check = [](const std::vector<std::string>& v, Eigen::Index want, const char* what) -> Status {
    if (!v.empty() && static_cast<Eigen::Index>(v.size()) != want) {
      return InvalidArgument(std::string("linear system: wrong number of ") + what);
    }
    return Status::Ok();
  };
  DOPPEL_RETURN_IF_ERROR(check(state_names, n, "state names"));
  DOPPEL_RETURN_IF_ERROR(check(state_units, n, "state units"));
  DOPPEL_RETURN_IF_ERROR(check(input_names, B.cols(), "input names"));
  DOPPEL_RETURN_IF_ERROR(check(input_units, B.cols(), "input units"));
  DOPPEL_RETURN_IF_ERROR(check(output_names, C.rows(), "output names"));
  DOPPEL_RETURN_IF_ERROR(check(output_units, C.rows(), "output units"));
  if (initial_state.size() != 0 && initial_state.size() != n) {
    return InvalidArgument("linear system: initial_state must have n entries");
  }
  return Status::Ok();
}

Result<std::unique_ptr<LinearSystem>> LinearSystem::Create(std::string name, LinearSystemSpec spec) {
  DOPPEL_RETURN_IF_ERROR(spec.Validate());
  return std::unique_ptr<LinearSystem>(new LinearSystem(std::move(name), std::move(spec)));
}

LinearSystem::LinearSystem(std::string name, LinearSystemSpec spec)
    : LeafSystem(std::move(name)), s_(std::move(spec)) {
  if (s_.B.size() == 0) s_.B.resize(s_.A.rows(), 0);
  auto nm = [](const std::vector<std::string>& v, Eigen::Index i, const char* p) {
    return v.empty() ? p + std::to_string(i) : v[static_cast<size_t>(i)];
  };
  auto un = [](const std::vector<std::string>& v, Eigen::Index i) {
    return v.empty() ? std::string("1") : v[static_cast<size_t>(i)];
  };
  for (Eigen::Index i = 0; i < s_.A.rows(); ++i) {
    DeclareState(nm(s_.state_names, i, "x"), un(s_.state_units, i),
                 s_.initial_state.size() ? s_.initial_state[i] : 0.0);
  }
  for (Eigen::Index i = 0; i < s_.B.cols(); ++i)
    DeclareInput(nm(s_.input_names, i, "u"), un(s_.input_units, i));
  for (Eigen::Index i = 0; i < s_.C.rows(); ++i)
    DeclareOutput(nm(s_.output_names, i, "y"), un(s_.output_units, i));
}

}  // namespace doppel::physics

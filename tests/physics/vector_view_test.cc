// ConstVectorView (system.h), the read-only vector argument of every System: it binds to a
// vector or a contiguous piece of one without copying, and refuses what it cannot view.
#include <gtest/gtest.h>

#include <type_traits>

#include "doppel/physics/system.h"

namespace doppel::physics {
namespace {

double Sum(InVec<double> v) { return v.sum(); }
const double* DataOf(InVec<double> v) { return v.data(); }

TEST(ConstVectorViewTest, BindsToVectorsAndContiguousSegmentsWithoutCopying) {
  Eigen::VectorXd x(5);
  x << 1, 2, 3, 4, 5;
  EXPECT_EQ(DataOf(x), x.data());
  EXPECT_EQ(DataOf(x.segment(1, 3)), x.data() + 1);
  EXPECT_EQ(Sum(x.segment(1, 3)), 9);
  const Eigen::Ref<const Eigen::VectorXd> ref(x);
  EXPECT_EQ(DataOf(ref), x.data());
  EXPECT_EQ(DataOf(ref.tail(2)), x.data() + 3);
  Eigen::Ref<Eigen::VectorXd> out(x);  // an OutVec
  EXPECT_EQ(DataOf(out.head(2)), x.data());
  const Eigen::Map<const Eigen::VectorXd> map(x.data() + 2, 2);
  EXPECT_EQ(Sum(map), 7);
  // A view of a view (a diagram hands segments of its argument to its subsystems).
  auto inner = [](InVec<double> v) { return DataOf(v.segment(1, 2)); };
  EXPECT_EQ(inner(x), x.data() + 1);
  Eigen::Matrix<double, Eigen::Dynamic, 1, 0, 16, 1> stack(3);  // the diagram's stack vectors
  stack << 1, 1, 1;
  EXPECT_EQ(Sum(stack.head(2)), 2);
}

TEST(ConstVectorViewTest, WorksForTheAutoDiffScalars) {
  VectorX<AutoDiff8> x(2);
  x[0] = AutoDiff8(1.5, Eigen::Matrix<double, 8, 1>::Unit(0));
  x[1] = AutoDiff8(2.0, Eigen::Matrix<double, 8, 1>::Unit(1));
  auto first = [](InVec<AutoDiff8> v) { return v[0]; };
  EXPECT_EQ(first(x.segment(1, 1)).value(), 2.0);
  EXPECT_EQ(first(x.segment(1, 1)).derivatives()[1], 1.0);
}

// Expressions, strided rows and other scalar types have no contiguous storage of Ts to view:
// they do not convert (evaluate them into a vector first).
static_assert(std::is_convertible_v<const Eigen::VectorXd&, InVec<double>>);
static_assert(!std::is_convertible_v<decltype(Eigen::VectorXd() + Eigen::VectorXd()), InVec<double>>);
static_assert(!std::is_convertible_v<decltype(Eigen::MatrixXd().row(0)), InVec<double>>);
static_assert(!std::is_convertible_v<const Eigen::VectorXf&, InVec<double>>);
static_assert(!std::is_convertible_v<const Eigen::VectorXd&, InVec<AutoDiff8>>);

}  // namespace
}  // namespace doppel::physics

// The library's own kernel fds: utcpd's control socket, the wake-up eventfds, the
// family's region memfd, the engines' doorbells, epoll instances' eventfds. The program
// does not know them, so it may treat their numbers as free: closefrom()/close_range()
// (OpenSSH closes everything above 2 after its re-exec), a close() loop over "all fds",
// dup2() onto a number it believes unused. This registry lets those calls step around
// them: close_range skips them, close() answers EBADF (the number is not open as far as
// the program knows), dup2/dup3 onto one first moves ours to another number.
//
// Each fd lives in a cell (an int owned by its user) that the registry may rewrite when
// it moves the fd; creating a private fd happens under the registry's lock (create()), so
// a close_range in another thread never sees it open but unregistered. A move is not
// atomic for a thread of ours that is using the old number at that very moment (it may
// reach the program's new file once): the program took a number it did not own first,
// and the alternative, losing the fd for good, is worse.
#pragma once

#include <mutex>
#include <vector>

namespace utcp::preload::private_fds {

// Runs make() with the registry locked, stores its result in *cell and registers the
// cell when it is a valid fd. Returns the fd (or make()'s negative result).
template <class Make>
int create(int* cell, Make make);
// Registers a cell whose fd already exists (received from utcpd, inherited across exec).
void add(int* cell);
// Forgets the cell (its fd is about to be closed by its owner, or the owner goes away).
void remove(int* cell);
// Whether fd is one of ours: one relaxed load for fds below 2^20.
bool contains(int fd);
// The program is about to make `fd` name something else (dup2/dup3 onto it): if it is
// ours (or a 0.0.0.0 listener's hidden kernel half), ours moves to a free number first.
// Returns false (errno set) when it could not move.
bool make_room(int fd);
// Our fds, sorted, for close_range (call with lock() held).
std::vector<int> sorted_locked();

// The lock itself: close_range holds it across its syscalls; fork holds it (atfork) so a
// child never inherits it locked.
std::mutex& lock();

namespace detail {
void add_locked(int* cell);
}

template <class Make>
int create(int* cell, Make make) {
  std::lock_guard<std::mutex> guard(lock());
  const int fd = make();
  *cell = fd;
  if (fd >= 0) detail::add_locked(cell);
  return fd;
}

}  // namespace utcp::preload::private_fds
